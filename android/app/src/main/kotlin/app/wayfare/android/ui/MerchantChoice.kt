package app.wayfare.android.ui

import android.content.Context
import app.wayfare.core.MerchantMembership

/**
 * Which of a person's merchants the merchant screen shows, remembered on
 * the phone (SharedPreferences) so that someone who owns one shop and
 * staffs another finds the screen as they left it.
 */
object MerchantChoice {
    private const val PREFS = "wayfare.merchant"
    private const val CHOSEN = "chosen_merchant_id"

    /** The chosen membership among `active`, else the first (the core's order); null when there is none. */
    fun pick(context: Context, active: List<MerchantMembership>): MerchantMembership? {
        val chosen = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).getString(CHOSEN, null)
        return active.firstOrNull { it.merchantId == chosen } ?: active.firstOrNull()
    }

    /** Remembers `merchantId` as the one to show. */
    fun remember(context: Context, merchantId: String) {
        context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).edit().putString(CHOSEN, merchantId).apply()
    }
}
