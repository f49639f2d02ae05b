package app.wayfare.android.ui

import android.content.Context
import android.graphics.Color
import android.graphics.Typeface
import android.text.InputType
import android.view.View
import android.view.ViewGroup
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.TextView

/*
 * Plain framework views built in code (no AndroidX, no layout XML: R ids need
 * aapt2). Views a test or a later screen needs are found by tag
 * (`findViewWithTag`), which is also how the tests read what a person sees.
 */

/** Density-independent pixels to pixels. */
fun Context.dp(value: Int): Int = (value * resources.displayMetrics.density).toInt()

/** A vertical, scrolling screen with the app's padding; `build` adds its rows. */
fun Context.screen(build: LinearLayout.() -> Unit): ScrollView {
    val column = LinearLayout(this).apply {
        orientation = LinearLayout.VERTICAL
        setPadding(dp(20), dp(24), dp(20), dp(24))
        build()
    }
    return ScrollView(this).apply {
        setBackgroundColor(Color.WHITE)
        addView(column, ViewGroup.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.WRAP_CONTENT))
    }
}

/** A vertical group inside a screen (a list, a card). */
fun LinearLayout.group(tag: String? = null, build: LinearLayout.() -> Unit = {}): LinearLayout {
    val group = LinearLayout(context).apply {
        orientation = LinearLayout.VERTICAL
        this.tag = tag
        build()
    }
    addView(group, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, LinearLayout.LayoutParams.WRAP_CONTENT))
    return group
}

enum class Style(val sp: Float, val bold: Boolean, val color: Int) {
    Title(24f, true, Color.rgb(0x10, 0x2a, 0x43)),
    Amount(34f, true, Color.rgb(0x10, 0x2a, 0x43)),
    Heading(18f, true, Color.rgb(0x10, 0x2a, 0x43)),
    Body(16f, false, Color.rgb(0x24, 0x29, 0x2e)),
    Secondary(14f, false, Color.rgb(0x58, 0x60, 0x69)),
    Error(16f, false, Color.rgb(0xb3, 0x1d, 0x28)),
}

/** A text row. */
fun LinearLayout.text(value: String, tag: String? = null, style: Style = Style.Body, topGap: Int = 8): TextView {
    val view = TextView(context).apply {
        text = value
        this.tag = tag
        textSize = style.sp
        setTextColor(style.color)
        if (style.bold) typeface = Typeface.DEFAULT_BOLD
    }
    addView(view, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, LinearLayout.LayoutParams.WRAP_CONTENT).apply {
        topMargin = context.dp(topGap)
    })
    return view
}

/** A full-width button. */
fun LinearLayout.button(label: String, tag: String? = null, onClick: () -> Unit): Button {
    val view = Button(context).apply {
        text = label
        this.tag = tag
        isAllCaps = false
        setOnClickListener { onClick() }
    }
    addView(view, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, LinearLayout.LayoutParams.WRAP_CONTENT).apply {
        topMargin = context.dp(12)
    })
    return view
}

/** A one-line text field. */
fun LinearLayout.field(hint: String, tag: String? = null, type: Int = InputType.TYPE_CLASS_TEXT): EditText {
    val view = EditText(context).apply {
        this.hint = hint
        this.tag = tag
        setHintTextColor(Style.Secondary.color)
        setTextColor(Style.Body.color)
        inputType = type
        setSingleLine(true)
    }
    addView(view, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, LinearLayout.LayoutParams.WRAP_CONTENT).apply {
        topMargin = context.dp(8)
    })
    return view
}

/** A thin rule between rows. */
fun LinearLayout.divider() {
    addView(View(context).apply { setBackgroundColor(Color.rgb(0xd0, 0xd7, 0xde)) },
        LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 1).apply { topMargin = context.dp(12) })
}
