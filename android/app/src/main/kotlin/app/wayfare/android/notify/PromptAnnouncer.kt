package app.wayfare.android.notify

import android.content.Context
import android.os.VibrationEffect
import android.os.Vibrator
import android.speech.tts.TextToSpeech
import app.wayfare.core.MerchantPrompt
import java.util.Locale

/**
 * Says and vibrates a merchant prompt as the core's prompt record asks
 * (`speak`, `vibrate`, `speechText` in the prompt's `locale`): the till-side
 * "payment received" announcement. One TextToSpeech engine for the
 * process, created on first use; texts asked before it is ready are spoken
 * when it is.
 */
object PromptAnnouncer {
    private var engine: TextToSpeech? = null
    private var ready = false
    private val waiting = mutableListOf<Pair<Locale, String>>()

    @Synchronized
    fun announce(context: Context, prompt: MerchantPrompt) {
        if (prompt.vibrate) {
            context.getSystemService(Vibrator::class.java)
                ?.vibrate(VibrationEffect.createOneShot(VIBRATION_MS, VibrationEffect.DEFAULT_AMPLITUDE))
        }
        if (!prompt.speak || prompt.speechText.isBlank()) return
        val locale = Locale.forLanguageTag(prompt.locale.ifBlank { "en" })
        val tts = engine ?: TextToSpeech(context.applicationContext) { status -> onReady(status) }.also { engine = it }
        if (ready) say(tts, locale, prompt.speechText) else waiting.add(locale to prompt.speechText)
    }

    @Synchronized
    private fun onReady(status: Int) {
        if (status != TextToSpeech.SUCCESS) return
        ready = true
        val tts = engine ?: return
        waiting.forEach { (locale, text) -> say(tts, locale, text) }
        waiting.clear()
    }

    private fun say(tts: TextToSpeech, locale: Locale, text: String) {
        tts.language = locale
        tts.speak(text, TextToSpeech.QUEUE_ADD, null, "wayfare-prompt-${text.hashCode()}")
    }

    private const val VIBRATION_MS = 300L
}
