package app.wayfare.android.ui

import android.content.Intent
import android.os.Bundle
import android.text.InputType
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import app.wayfare.core.WalletException
import app.wayfare.core.walletErrorMessage

/**
 * First run: the rider names themself (the name is what guardians and
 * merchants' staff see) and may leave a phone number with Wayfare (never
 * sent to terminals). Registering creates the device key, sealed by the
 * Android Keystore, and the account on the control center.
 */
class RegisterActivity : WayfareActivity() {
    private lateinit var name: EditText
    private lateinit var phone: EditText
    private lateinit var submit: Button
    private lateinit var status: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        show(screen {
            text(texts.registerTitle, "title", Style.Title, topGap = 0)
            text(texts.registerIntro, "intro", Style.Secondary)
            name = field(texts.registerNameHint, "name", InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_VARIATION_PERSON_NAME)
            phone = field(texts.registerPhoneHint, "phone", InputType.TYPE_CLASS_PHONE)
            submit = button(texts.registerButton, "register") { register() }
            status = text("", "status", Style.Secondary)
        })
    }

    private fun register() {
        val displayName = name.text.toString().trim()
        if (displayName.isEmpty()) {
            status.setTextColor(Style.Error.color)
            status.text = texts.registerNameMissing
            return
        }
        val phoneNumber = phone.text.toString().trim().ifEmpty { null }
        submit.isEnabled = false
        status.setTextColor(Style.Secondary.color)
        status.text = texts.registering
        withWallet({ problem -> submit.isEnabled = true; status.setTextColor(Style.Error.color); status.text = problem }) { wallet ->
            try {
                wallet.account().register(displayName, phoneNumber)
                startActivity(Intent(this@RegisterActivity, HomeActivity::class.java)
                    .addFlags(Intent.FLAG_ACTIVITY_CLEAR_TOP))
                finish()
            } catch (e: WalletException) {
                submit.isEnabled = true
                status.setTextColor(Style.Error.color)
                status.text = walletErrorMessage(e)
            }
        }
    }
}
