package app.wayfare.android.nfc

import android.nfc.cardemulation.HostApduService
import android.os.Bundle
import android.util.Log
import app.wayfare.android.ServerUrlException
import app.wayfare.android.Wayfare
import app.wayfare.core.NfcCard
import app.wayfare.core.NfcListener
import app.wayfare.core.TerminalSession
import app.wayfare.core.WalletException
import kotlinx.coroutines.MainScope
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock

/**
 * Host card emulation for Wayfare's proprietary AID F0 57 41 59 46 41 52 45
 * (res/xml/apduservice.xml). Every command APDU goes to the core's
 * [NfcCard] (`wallet.terminals().nfcCard(listener)`), which answers SELECT,
 * carries the session in EXCHANGE APDUs and signs express taps. The core
 * answers asynchronously: [processCommandApdu] returns null and the answer
 * follows through [sendResponseApdu] when the coroutine has it. A verified
 * session opens the payment sheet ([TapSheet]: directly while the app is
 * in front, else through a full-screen-intent notification).
 */
class WayfareApduService : HostApduService() {
    private val scope = MainScope()
    /** APDUs are answered one at a time, in order. */
    private val order = Mutex()
    private var card: NfcCard? = null

    override fun processCommandApdu(commandApdu: ByteArray, extras: Bundle?): ByteArray? {
        scope.launch {
            val answer = order.withLock {
                try {
                    card().processApdu(commandApdu)
                } catch (e: WalletException) {
                    // No wallet to answer with (not opened, not registered): no precise diagnosis.
                    Log.w(TAG, "no card to answer the reader: ${e.javaClass.simpleName}")
                    SW_UNKNOWN
                } catch (e: ServerUrlException) {
                    // This build's control center is refused: the home screen says why.
                    Log.w(TAG, "no card to answer the reader: ${e.problem}")
                    SW_UNKNOWN
                }
            }
            sendResponseApdu(answer)
        }
        return null
    }

    override fun onDeactivated(reason: Int) {
        card?.deactivated()
    }

    override fun onDestroy() {
        card?.deactivated()
        card?.destroy()
        card = null
        scope.cancel()
        super.onDestroy()
    }

    private suspend fun card(): NfcCard =
        card ?: Wayfare.wallet(this).terminals().nfcCard(Listener()).also { card = it }

    /** Called by the core on the thread of the APDU that verified the terminal: return quickly. */
    private inner class Listener : NfcListener {
        override fun onSession(session: TerminalSession) {
            TapSheet.open(this@WayfareApduService, session)
        }

        override fun onTapFailed(reason: String) {
            Log.i(TAG, "tap failed: $reason")
        }
    }

    companion object {
        private const val TAG = "Wayfare/nfc"
        /** Wayfare's proprietary AID (also in res/xml/apduservice.xml). */
        const val AID = "F057415946415245"
        private val SW_UNKNOWN = byteArrayOf(0x6F, 0x00)
    }
}
