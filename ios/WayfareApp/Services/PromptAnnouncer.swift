import AVFoundation
import UIKit
import WayfareCore

/// Speaks merchant prompts and plays their haptics, as the prompt itself
/// says (`speak`, `vibrate`: the core resolves them from the device's prompt
/// settings, `merchant().promptSettings()`). The voice is the prompt's
/// language (`locale`, e.g. `zh-CN`), falling back to the system voice.
@MainActor
final class PromptAnnouncer {
    private let synthesizer = AVSpeechSynthesizer()
    private let haptics = UINotificationFeedbackGenerator()
    private var spokenKeys: [String] = []

    func announce(_ prompt: MerchantPrompt) {
        // The stream and the event queue can both bring one payment's
        // prompt: announce each dedupe key once.
        guard !spokenKeys.contains(prompt.dedupeKey) else { return }
        spokenKeys.append(prompt.dedupeKey)
        if spokenKeys.count > 64 {
            spokenKeys.removeFirst(spokenKeys.count - 64)
        }
        if prompt.vibrate {
            haptics.prepare()
            haptics.notificationOccurred(.success)
        }
        if prompt.speak {
            speak(prompt.speechText, locale: prompt.locale)
        }
    }

    private func speak(_ text: String, locale: String) {
        let session = AVAudioSession.sharedInstance()
        // Mix with other audio and duck it, so a shop's music dips for the
        // prompt instead of stopping.
        try? session.setCategory(.playback, mode: .voicePrompt, options: [.duckOthers, .mixWithOthers])
        try? session.setActive(true)
        let utterance = AVSpeechUtterance(string: text)
        utterance.voice = AVSpeechSynthesisVoice(language: locale) ?? AVSpeechSynthesisVoice(language: nil)
        synthesizer.speak(utterance)
    }
}
