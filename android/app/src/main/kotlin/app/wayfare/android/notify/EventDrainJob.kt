package app.wayfare.android.notify

import android.app.job.JobInfo
import android.app.job.JobParameters
import android.app.job.JobScheduler
import android.app.job.JobService
import android.content.ComponentName
import android.content.Context
import android.util.Log
import app.wayfare.android.ServerUrlException
import app.wayfare.android.Wayfare
import app.wayfare.android.push.PushRegistration
import app.wayfare.core.WalletException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch

/**
 * Drains the wallet's events into notifications while no screen is open
 * (the home screen's listener only runs while the app does): a periodic
 * job (`JobScheduler`, any network) opens the wallet, which settles
 * payments left pending, catches up on guardian alerts (`syncAlerts`) and
 * merchant prompts (`syncPrompts`), both queued as the live streams queue
 * them, and posts every waiting event with [EventNotifier.drain], which
 * acknowledges each only after it was shown
 * (and, while notifications are not allowed, leaves them all queued for
 * the home screen to count). It also sends a push token the control
 * center does not have yet ([PushRegistration.sync]), so a token FCM handed
 * over while offline is registered at the next run.
 * A wallet that cannot be opened or reached asks the scheduler to retry.
 */
class EventDrainJob : JobService() {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Main)

    override fun onStartJob(params: JobParameters?): Boolean {
        scope.launch {
            val retry = try {
                drainOnce(this@EventDrainJob)
                false
            } catch (e: WalletException) {
                Log.i(TAG, "background drain failed (${e.javaClass.simpleName}); the scheduler retries")
                true
            } catch (e: ServerUrlException) {
                // Not something a retry mends: the home screen says why.
                Log.w(TAG, "background drain not run: ${e.problem}")
                false
            }
            jobFinished(params, retry)
        }
        return true
    }

    /** Stopped by the system (network gone, quota): what was not acknowledged comes again next time. */
    override fun onStopJob(params: JobParameters?): Boolean {
        scope.coroutineContext[kotlinx.coroutines.Job]?.children?.forEach { it.cancel() }
        return true
    }

    override fun onDestroy() {
        scope.cancel()
        super.onDestroy()
    }

    companion object {
        const val JOB_ID = 4202
        /** The shortest period Android allows a periodic job. */
        const val PERIOD_MS = 15 * 60 * 1000L
        private const val TAG = "Wayfare/notify"

        /** Schedules the periodic drain once (kept across reboots); called when the home screen opens. */
        fun schedule(context: Context) {
            val scheduler = context.getSystemService(JobScheduler::class.java)
            if (scheduler.getPendingJob(JOB_ID) != null) return
            val job = JobInfo.Builder(JOB_ID, ComponentName(context, EventDrainJob::class.java))
                .setRequiredNetworkType(JobInfo.NETWORK_TYPE_ANY)
                .setPeriodic(PERIOD_MS)
                .setPersisted(true)
                .build()
            if (scheduler.schedule(job) != JobScheduler.RESULT_SUCCESS) Log.w(TAG, "the background drain could not be scheduled")
        }

        /**
         * One drain: the push token if the control center lacks it, catch
         * up, then post and acknowledge; returns how many were posted. Also
         * what a push runs ([PushRegistration.onMessage]).
         */
        suspend fun drainOnce(context: Context): Int {
            val wallet = Wayfare.wallet(context)
            if (!wallet.account().isRegistered()) return 0
            PushRegistration.sync(context, wallet)
            if (wallet.guardians().bindings(false).asGuardian.isNotEmpty()) wallet.guardians().syncAlerts()
            // Prompts made while no merchant screen streamed them (a prompt's push woke the app).
            wallet.merchant().syncPrompts()
            return EventNotifier.drain(context, wallet)
        }
    }
}
