//! Run logs: stdout and stderr together, one timestamped line at a time, capped in
//! size so that a task printing gigabytes cannot fill the disk. When the cap is
//! reached the oldest half is dropped: the end of a log is what explains a failure.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::secrets::mask::Masker;

pub struct CappedLog {
    file: BufWriter<File>,
    /// Secret values to mask, one filter per stream (a value may be split over lines).
    maskers: BTreeMap<String, Masker>,
    secrets: Masker,
    written: u64,
    cap: u64,
    /// Bytes dropped from the front so far, reported in the log's first line.
    dropped: u64,
}

impl CappedLog {
    pub fn create(path: &Path, cap: u64) -> std::io::Result<CappedLog> {
        if let Some(dir) = path.parent() {
            crate::state::create_private_dir(dir)?;
        }
        Ok(CappedLog {
            // Owner-only: a task's output may hold what it should not.
            file: BufWriter::new(
                crate::state::private_file()
                    .create(true)
                    .truncate(true)
                    .read(true)
                    .write(true)
                    .open(path)?,
            ),
            maskers: BTreeMap::new(),
            secrets: Masker::default(),
            written: 0,
            cap: cap.max(1024),
            dropped: 0,
        })
    }

    /// Mask these values (the secrets the task was given) wherever they appear.
    pub fn mask(&mut self, values: &[&str]) {
        self.secrets = Masker::new(values.iter().copied());
    }

    /// Write out what maskers held back (a possible start of a secret that the
    /// stream ended in), then flush.
    pub fn finish(&mut self) -> std::io::Result<()> {
        let held: Vec<(String, Vec<u8>)> = self
            .maskers
            .iter_mut()
            .map(|(stream, m)| (stream.clone(), m.finish()))
            .filter(|(_, rest)| !rest.is_empty())
            .collect();
        for (stream, rest) in held {
            self.record(&stream, &rest)?;
        }
        self.flush()
    }

    /// Write out what is buffered, so readers of the file see it.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }

    /// Append one line, prefixed with the time and the stream it came from, with
    /// secret values masked.
    pub fn line(&mut self, stream: &str, text: &[u8]) -> std::io::Result<()> {
        if self.secrets.is_empty() {
            return self.record(stream, text);
        }
        let masker = self
            .maskers
            .entry(stream.to_string())
            .or_insert_with(|| self.secrets.clone());
        let shown = masker.push(text);
        if shown.is_empty() {
            return Ok(());
        }
        self.record(stream, &shown)
    }

    fn record(&mut self, stream: &str, text: &[u8]) -> std::io::Result<()> {
        let stamp = jiff::Timestamp::now()
            .round(jiff::Unit::Millisecond)
            .unwrap_or(jiff::Timestamp::now());
        let mut record = format!("{stamp} {stream} ").into_bytes();
        record.extend_from_slice(text);
        if !record.ends_with(b"\n") {
            record.push(b'\n');
        }
        self.file.write_all(&record)?;
        self.written += record.len() as u64;
        if self.written > self.cap {
            self.keep_tail()?;
        }
        Ok(())
    }

    /// Rewrite the file with only its newest half, starting at a line boundary.
    fn keep_tail(&mut self) -> std::io::Result<()> {
        let keep = self.cap / 2;
        let mut tail = Vec::with_capacity(keep as usize);
        self.file.flush()?;
        let file = self.file.get_mut();
        file.seek(SeekFrom::Start(self.written - keep))?;
        file.read_to_end(&mut tail)?;
        let start = tail.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
        self.dropped += self.written - keep + start as u64;
        let notice = format!(
            "[orc: {} earlier bytes of output dropped to keep this log under {} bytes]\n",
            self.dropped, self.cap
        );
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        self.file.write_all(notice.as_bytes())?;
        self.file.write_all(&tail[start..])?;
        self.written = (notice.len() + tail.len() - start) as u64;
        Ok(())
    }
}
