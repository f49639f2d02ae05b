package app.wayfare.android.ui

import android.app.Activity
import android.content.Intent
import android.os.Bundle
import android.view.View
import app.wayfare.android.ServerUrlException
import app.wayfare.android.Wayfare
import app.wayfare.core.Wallet
import app.wayfare.core.WalletException
import app.wayfare.core.walletErrorMessage
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.MainScope
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch

/**
 * What every screen shares: the texts of the current locale and a coroutine
 * scope on the main thread that ends with the Activity (no AndroidX
 * lifecycle here). Core calls suspend on the core's own runtime; their
 * continuations come back to the main thread to touch views. Screens that
 * scan a QR code start [ScanActivity] with [scan] and get what it read in
 * [onScanned].
 */
abstract class WayfareActivity : Activity() {
    protected lateinit var texts: Texts
        private set
    protected val scope: CoroutineScope = MainScope()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        texts = Texts.of(this)
        title = texts.appName
    }

    override fun onResume() {
        super.onResume()
        Foreground.resumed(this)
    }

    override fun onPause() {
        Foreground.paused(this)
        super.onPause()
    }

    override fun onDestroy() {
        Foreground.paused(this)
        scope.cancel()
        super.onDestroy()
    }

    protected fun show(view: View) = setContentView(view)

    /** Opens the scanner for `what`; the payload it reads comes to [onScanned]. */
    protected fun scan(what: ScanActivity.Scanned) = ScanActivity.start(this, what, REQUEST_SCAN)

    /** A QR payload the scanner read for this screen (after [scan]); screens that scan override it. */
    protected open fun onScanned(payload: String) {}

    @Suppress("OVERRIDE_DEPRECATION", "DEPRECATION") // onActivityResult: the framework's only way without AndroidX.
    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        super.onActivityResult(requestCode, resultCode, data)
        ScanActivity.payload(requestCode, resultCode, data, REQUEST_SCAN)?.let(::onScanned)
    }

    private companion object {
        const val REQUEST_SCAN = 4204
    }

    /**
     * Runs `block` with the open wallet on the main thread's scope; if the
     * wallet cannot be opened, `unavailable` gets the sentence to show.
     */
    protected fun withWallet(
        unavailable: (String) -> Unit,
        block: suspend CoroutineScope.(Wallet) -> Unit,
    ): Job = scope.launch {
        val wallet = try {
            Wayfare.wallet(this@WayfareActivity)
        } catch (e: WalletException) {
            unavailable(texts.openFailed + " " + walletErrorMessage(e))
            return@launch
        } catch (e: ServerUrlException) {
            unavailable(DeviceTexts.of(texts).serverRefused(e.problem, e.url))
            return@launch
        }
        block(wallet)
    }
}
