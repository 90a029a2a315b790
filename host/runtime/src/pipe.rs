//! Bounded capture of a guest's stdout and stderr.
//!
//! stdout of a command is its result, so writing past the cap traps with
//! [`OutputTooLarge`]; stderr is only a log, so past the cap it is silently dropped.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// The guest wrote more to stdout than the output cap.
#[derive(Debug, thiserror::Error)]
#[error("output too large: the guest wrote more than {cap} bytes to stdout")]
pub struct OutputTooLarge {
    pub cap: usize,
}

#[derive(Clone)]
pub(crate) struct Capture {
    cap: usize,
    trap_on_overflow: bool,
    buf: Arc<Mutex<Vec<u8>>>,
}

impl Capture {
    /// Result pipe: overflow traps.
    pub fn output(cap: usize) -> Self {
        Capture {
            cap,
            trap_on_overflow: true,
            buf: Arc::default(),
        }
    }

    /// Log pipe: overflow is dropped.
    pub fn log(cap: usize) -> Self {
        Capture {
            cap,
            trap_on_overflow: false,
            buf: Arc::default(),
        }
    }

    fn buf(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.buf.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.buf())
    }

    pub fn take_string(&self) -> String {
        String::from_utf8_lossy(&self.take()).into_owned()
    }

    /// Appends what fits; false if something did not.
    fn push(&self, bytes: &[u8]) -> bool {
        let mut buf = self.buf();
        let room = self.cap - buf.len();
        buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        bytes.len() <= room
    }
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        if !self.push(&bytes) && self.trap_on_overflow {
            return Err(StreamError::Trap(wasmtime::Error::new(OutputTooLarge {
                cap: self.cap,
            })));
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always ready; the cap is enforced in `write` so an overflow is a clear error
        // rather than a guest waiting forever for room.
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if !self.push(buf) && self.trap_on_overflow {
            return Poll::Ready(Err(std::io::Error::other(OutputTooLarge { cap: self.cap })));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}
