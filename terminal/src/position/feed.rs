//! Reads the GTFS-Realtime feed every `position.poll_ms` and moves the
//! live position; a read that fails or is stale leaves the position as it
//! was and is shown in `GET /status`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::gtfs::{observe, FeedError, FeedMessage, VehicleFilter};
use super::{LivePosition, PositionConfig};

/// A feed bigger than this is refused (a city's whole feed is far less).
const MAX_FEED_BYTES: usize = 8 * 1024 * 1024;

/// Where the feed's bytes come from.
enum Source {
    Url(reqwest::Client, String),
    File(std::path::PathBuf),
}

/// The feed reader of one terminal.
pub(crate) struct FeedReader {
    source: Source,
    filter: VehicleFilter,
    config: PositionConfig,
    live: Arc<LivePosition>,
}

impl FeedReader {
    /// A reader for `config`, matching `vehicle` (the configured one unless
    /// `position.vehicle_id` says otherwise).
    pub(crate) fn new(
        config: &PositionConfig,
        vehicle: &str,
        live: Arc<LivePosition>,
    ) -> Result<Self, FeedError> {
        let source = match (&config.feed_url, &config.feed_file) {
            (Some(url), _) => {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_millis(config.poll_ms.clamp(1_000, 10_000)))
                    .build()
                    .map_err(|e| FeedError::Unreachable(e.to_string()))?;
                Source::Url(client, url.clone())
            }
            (None, Some(path)) => Source::File(path.clone()),
            (None, None) => {
                return Err(FeedError::Unreachable(
                    "no feed_url or feed_file configured".into(),
                ))
            }
        };
        Ok(Self {
            source,
            filter: VehicleFilter {
                vehicle: config
                    .vehicle_id
                    .clone()
                    .unwrap_or_else(|| vehicle.to_string()),
                route_id: config.route_id.clone(),
                trip_id: config.trip_id.clone(),
            },
            config: config.clone(),
            live,
        })
    }

    async fn fetch(&self) -> Result<Vec<u8>, FeedError> {
        let bytes = match &self.source {
            Source::Url(client, url) => {
                let response = client
                    .get(url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| FeedError::Unreachable(e.without_url().to_string()))?;
                if response
                    .content_length()
                    .is_some_and(|n| n > MAX_FEED_BYTES as u64)
                {
                    return Err(FeedError::Unreachable("the feed is too large".into()));
                }
                response
                    .bytes()
                    .await
                    .map_err(|e| FeedError::Unreachable(e.without_url().to_string()))?
                    .to_vec()
            }
            Source::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| FeedError::Unreachable(format!("{}: {e}", path.display())))?,
        };
        if bytes.len() > MAX_FEED_BYTES {
            return Err(FeedError::Unreachable("the feed is too large".into()));
        }
        Ok(bytes)
    }

    /// Reads the feed once and applies this vehicle's position.
    pub(crate) async fn poll_once(&self, now_ms: u64) -> Result<(), FeedError> {
        let bytes = self.fetch().await?;
        let feed = FeedMessage::from_bytes(&bytes)?;
        let observation = observe(&feed, &self.filter, self.config.max_age_ms, now_ms)?;
        let before = self.live.snapshot(now_ms).position;
        let after = self.live.apply_feed(&observation)?;
        if before.station != after.station || before.status != after.status {
            tracing::info!(
                station = %after.station,
                next = after.next_stop.as_deref().unwrap_or("-"),
                status = ?after.status,
                "tram position from the feed"
            );
        }
        Ok(())
    }

    /// Polls until the terminal stops.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let period = Duration::from_millis(self.config.poll_ms);
        let mut last_error: Option<FeedError> = None;
        loop {
            match self.poll_once(crate::now_ms()).await {
                Ok(()) => {
                    if last_error.take().is_some() {
                        tracing::info!("the position feed is readable again");
                    }
                }
                Err(e) => {
                    self.live.note_feed_error(&e);
                    if last_error.as_ref().map(std::mem::discriminant)
                        != Some(std::mem::discriminant(&e))
                    {
                        tracing::warn!(error = %e, "position feed: the last known stop is kept");
                    }
                    last_error = Some(e);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
