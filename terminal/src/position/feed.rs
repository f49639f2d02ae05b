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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{StopConfig, TramConfig};
    use crate::position::gtfs::{single_vehicle_feed, VehicleStopStatus};
    use crate::position::PositionSource;
    use wayfare_protocol::money::Currency;

    fn tram() -> TramConfig {
        let stop = |id: &str, name: &str, index| StopConfig {
            id: id.into(),
            name: name.into(),
            index,
        };
        TramConfig {
            fare_minor: 200,
            currency: Currency::parse("CNY").unwrap(),
            line: "T1".into(),
            vehicle: "tram 1207".into(),
            direction_from: "Harbour".into(),
            direction_towards: "University".into(),
            station: "Harbour".into(),
            station_index: 1,
            request_ttl_ms: 60_000,
            stops: vec![stop("S1", "Harbour", 1), stop("S2", "Museum", 2)],
        }
    }

    #[tokio::test]
    async fn a_feed_file_moves_the_tram_and_bad_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vehicle-positions.pb");
        let config = PositionConfig {
            feed_url: None,
            feed_file: Some(path.clone()),
            max_age_ms: 60_000,
            ..PositionConfig::from_url("")
        };
        let live = Arc::new(LivePosition::new(&tram(), Some(&config), 0));
        let reader = FeedReader::new(&config, "tram 1207", live.clone()).unwrap();
        let now_ms = 1_000_000_000;

        assert!(matches!(
            reader.poll_once(now_ms).await,
            Err(FeedError::Unreachable(_))
        ));
        std::fs::write(&path, b"not a feed").unwrap();
        assert!(matches!(
            reader.poll_once(now_ms).await,
            Err(FeedError::Malformed(_))
        ));
        let feed = single_vehicle_feed("tram 1207", "S2", VehicleStopStatus::StoppedAt, 999_990);
        std::fs::write(&path, feed.to_bytes()).unwrap();
        reader.poll_once(now_ms).await.unwrap();
        let at = live.snapshot(now_ms);
        assert_eq!(at.position.station, "Museum");
        assert_eq!(at.position.source, PositionSource::Feed);
        assert_eq!(at.age_ms, 10_000);
        assert!(!at.stale);

        let elsewhere =
            single_vehicle_feed("tram 1207", "S7", VehicleStopStatus::StoppedAt, 999_995);
        std::fs::write(&path, elsewhere.to_bytes()).unwrap();
        assert_eq!(
            reader.poll_once(now_ms).await,
            Err(FeedError::UnknownStop("S7".into()))
        );
        assert_eq!(live.snapshot(now_ms).position.station, "Museum");
    }
}
