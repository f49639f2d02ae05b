package app.wayfare.android.platform

import android.content.Context
import android.net.nsd.NsdManager
import android.net.nsd.NsdServiceInfo
import android.util.Log
import app.wayfare.core.PlatformDiscovery
import app.wayfare.core.PlatformDiscoverySink
import app.wayfare.core.PlatformService
import app.wayfare.core.WalletException

/**
 * Android's own service browser (`NsdManager`) as the core's
 * [PlatformDiscovery]: the core calls [start] when a `watchNearby` begins
 * and [stop] when it ends; every `_wayfare._tcp` service found is resolved
 * (one at a time, as NsdManager before Android 14 requires) and handed to
 * the core with its TXT record, which the core checks is a Wayfare beacon
 * and merges with its other sources, nearest first. Android's browser runs
 * in the system (no multicast lock in the app).
 */
class NsdDiscovery(context: Context) : PlatformDiscovery {
    private val nsd: NsdManager = context.applicationContext.getSystemService(NsdManager::class.java)
    private val lock = Any()
    private var browsing: NsdManager.DiscoveryListener? = null
    private var sink: PlatformDiscoverySink? = null
    private val toResolve = ArrayDeque<NsdServiceInfo>()
    private var resolving = false

    override fun start(sink: PlatformDiscoverySink) {
        val listener = Browser()
        synchronized(lock) {
            this.sink = sink
            browsing = listener
        }
        try {
            nsd.discoverServices(SERVICE_TYPE, NsdManager.PROTOCOL_DNS_SD, listener)
        } catch (e: RuntimeException) {
            sink.unavailable("NsdManager refused to browse: ${e.message}")
        }
    }

    override fun stop() {
        val listener = synchronized(lock) {
            sink = null
            toResolve.clear()
            browsing.also { browsing = null }
        } ?: return
        try {
            nsd.stopServiceDiscovery(listener)
        } catch (e: IllegalArgumentException) {
            // Never started (discovery failed): nothing to stop.
        }
    }

    private inner class Browser : NsdManager.DiscoveryListener {
        override fun onDiscoveryStarted(serviceType: String) {}
        override fun onDiscoveryStopped(serviceType: String) {}
        override fun onStopDiscoveryFailed(serviceType: String, errorCode: Int) {}

        override fun onStartDiscoveryFailed(serviceType: String, errorCode: Int) {
            current(this)?.unavailable("NsdManager could not start browsing (error $errorCode)")
        }

        override fun onServiceFound(service: NsdServiceInfo) {
            synchronized(lock) {
                if (browsing !== this) return
                toResolve.addLast(service)
            }
            resolveNext()
        }

        override fun onServiceLost(service: NsdServiceInfo) {
            current(this)?.serviceLost(service.serviceName)
        }
    }

    private fun current(listener: NsdManager.DiscoveryListener): PlatformDiscoverySink? =
        synchronized(lock) { if (browsing === listener) sink else null }

    private fun resolveNext() {
        val next = synchronized(lock) {
            if (resolving) return
            toResolve.removeFirstOrNull()?.also { resolving = true }
        } ?: return
        nsd.resolveService(next, object : NsdManager.ResolveListener {
            override fun onResolveFailed(service: NsdServiceInfo, errorCode: Int) {
                Log.i(TAG, "could not resolve a service (error $errorCode)")
                done()
            }

            override fun onServiceResolved(service: NsdServiceInfo) {
                report(service)
                done()
            }
        })
    }

    private fun done() {
        synchronized(lock) { resolving = false }
        resolveNext()
    }

    private fun report(service: NsdServiceInfo) {
        val to = synchronized(lock) { sink } ?: return
        @Suppress("DEPRECATION") // NsdServiceInfo.host: getHostAddresses() is API 34+.
        val host = service.host?.hostAddress ?: return
        val txt = service.attributes.mapValues { (_, value) -> value?.let { String(it, Charsets.UTF_8) } ?: "" }
        try {
            to.serviceFound(PlatformService(service.serviceName, host, service.port.toUShort(), txt))
        } catch (e: WalletException) {
            // Not a Wayfare beacon, or no address: the core lists nothing.
            Log.i(TAG, "a _wayfare._tcp service was not listed: ${e.javaClass.simpleName}")
        }
    }

    companion object {
        /** The DNS-SD type the terminals advertise (the core's own browser looks for the same). */
        const val SERVICE_TYPE = "_wayfare._tcp"
        private const val TAG = "Wayfare/nsd"
    }
}
