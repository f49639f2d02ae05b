//! NFC through the real PC/SC stack: a private `pcscd` with the
//! `vsmartcard-vpcd` virtual reader driver, and the phone's card handler
//! (`NfcCard`, what Android's `HostApduService` calls) placed on that
//! reader through vpcd's socket protocol (a big-endian `u16` length, then
//! the payload; a 1-byte payload is a control command: `00` power off,
//! `01` power on, `02` reset, `04` get ATR; anything longer is an APDU).
//!
//! pcscd listens on one socket per machine, so one `pcscd` serves a whole
//! test binary: started here with a private reader configuration (two
//! vpcd readers on free ports) when none is running, it dies with the
//! process. `WAYFARE_TEST_VPCD_PORT` names the port of a pcscd started
//! by the caller instead.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex, MutexGuard};
use wayfare_core::{ListenerError, NfcCard, NfcListener, TerminalSession};

/// A contactless ISO 14443-4 card without historical bytes (PC/SC part 3).
const ATR: [u8; 5] = [0x3B, 0x80, 0x80, 0x01, 0x01];

/// The private pcscd and its virtual reader.
pub struct VirtualReader {
    /// vpcd's two readers: each one's name as PC/SC lists it (for a
    /// terminal's `[nfc]`) and the port where a card connects to it.
    pub slots: [(String, u16); 2],
    _dir: Option<tempfile::TempDir>,
    _pcscd: Option<Child>,
    /// One test at a time holds the reader.
    turn: Mutex<()>,
}

impl VirtualReader {
    /// Holds the reader for one test.
    pub async fn take(&self) -> MutexGuard<'_, ()> {
        self.turn.lock().await
    }
}

/// Starts this test binary's pcscd (once) and returns its reader.
pub fn virtual_reader() -> &'static VirtualReader {
    static READER: OnceLock<VirtualReader> = OnceLock::new();
    READER.get_or_init(|| {
        start_pcscd()
            .expect("pcscd with vpcd (scripts/install-deps.sh installs pcscd and vsmartcard-vpcd)")
    })
}

fn free_port_pair() -> u16 {
    loop {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port < 65535 && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// Where pcscd listens (fixed when Debian builds it).
const PCSCD_SOCKET: &str = "/run/pcscd/pcscd.comm";

fn pcscd_running() -> bool {
    std::os::unix::net::UnixStream::connect(PCSCD_SOCKET).is_ok()
}

fn start_pcscd() -> Result<VirtualReader, String> {
    if let Some(port) = std::env::var("WAYFARE_TEST_VPCD_PORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
    {
        // A pcscd started by the caller with a "Wayfare Test" vpcd reader.
        return Ok(VirtualReader::new(port, None, None));
    }
    if pcscd_running() {
        return Err(format!(
            "another pcscd is running ({PCSCD_SOCKET}): stop it, or start it with a vpcd reader \
             named \"Wayfare Test\" and set WAYFARE_TEST_VPCD_PORT to its port"
        ));
    }
    let pcscd = ["/usr/sbin/pcscd", "/usr/bin/pcscd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or("pcscd is not installed")?;
    let driver = PathBuf::from("/usr/lib/pcsc/drivers/serial/libifdvpcd.so");
    if !driver.exists() {
        return Err("vsmartcard-vpcd is not installed".into());
    }
    let dir = tempfile::Builder::new()
        .prefix("wayfare-pcscd-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let port = free_port_pair();
    let conf = dir.path().join("reader.conf.d");
    std::fs::create_dir(&conf).map_err(|e| e.to_string())?;
    let mut f = std::fs::File::create(conf.join("wayfare-vpcd")).map_err(|e| e.to_string())?;
    writeln!(
        f,
        "FRIENDLYNAME \"Wayfare Test\"\nDEVICENAME /dev/null:0x{port:X}\nLIBPATH {}\nCHANNELID 0x{port:X}",
        driver.display()
    )
    .map_err(|e| e.to_string())?;
    // pcscd dies with this process: the shell waits on our stdin, which
    // closes when we exit, then stops it.
    let script = format!(
        "{} -f -c {} >{}/pcscd.log 2>&1 & pid=$!; read _; kill $pid; wait $pid",
        pcscd.display(),
        conf.display(),
        dir.path().display()
    );
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting pcscd: {e}"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !pcscd_running() {
        if std::time::Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.path().join("pcscd.log")).unwrap_or_default();
            return Err(format!("pcscd did not start within 10 s: {log}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(VirtualReader::new(port, Some(dir), Some(child)))
}

impl VirtualReader {
    fn new(port: u16, dir: Option<tempfile::TempDir>, pcscd: Option<Child>) -> Self {
        Self {
            slots: [
                ("Wayfare Test 00 00".into(), port),
                ("Wayfare Test 00 01".into(), port + 1),
            ],
            _dir: dir,
            _pcscd: pcscd,
            turn: Mutex::new(()),
        }
    }
}

/// A phone held on the reader: its card handler answers vpcd until
/// [`PhoneOnReader::remove`] (or drop) takes it away.
pub struct PhoneOnReader {
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl PhoneOnReader {
    /// Places `card` on the reader at `port` (vpcd): the reader sees a card
    /// arrive.
    pub async fn place(port: u16, card: Arc<NfcCard>) -> Self {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)).await {
                Ok(s) => break s,
                Err(e) if tokio::time::Instant::now() > deadline => {
                    panic!("vpcd is not listening on {port}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let _ = stream.set_nodelay(true);
        Self {
            task: tokio::spawn(serve_vpcd(stream, card)),
        }
    }

    /// Takes the phone out of the field.
    pub async fn remove(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for PhoneOnReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_vpcd(mut stream: TcpStream, card: Arc<NfcCard>) -> std::io::Result<()> {
    loop {
        let len = stream.read_u16().await? as usize;
        let mut message = vec![0u8; len];
        stream.read_exact(&mut message).await?;
        let answer = match message.as_slice() {
            [0x00] | [0x02] => {
                card.deactivated();
                continue;
            }
            [0x01] => continue,
            [0x04] => ATR.to_vec(),
            apdu => card.process_apdu(apdu.to_vec()).await,
        };
        stream.write_u16(answer.len() as u16).await?;
        stream.write_all(&answer).await?;
    }
}

/// An `NfcListener` that hands each verified session to the test.
pub struct SessionInbox {
    tx: mpsc::UnboundedSender<Result<Arc<TerminalSession>, String>>,
}

impl SessionInbox {
    /// The listener and the receiving end the test awaits.
    pub fn new() -> (
        Arc<Self>,
        mpsc::UnboundedReceiver<Result<Arc<TerminalSession>, String>>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Arc::new(Self { tx }), rx)
    }
}

impl NfcListener for SessionInbox {
    fn on_session(&self, session: Arc<TerminalSession>) -> Result<(), ListenerError> {
        let _ = self.tx.send(Ok(session));
        Ok(())
    }

    fn on_tap_failed(&self, reason: String) -> Result<(), ListenerError> {
        let _ = self.tx.send(Err(reason));
        Ok(())
    }
}
