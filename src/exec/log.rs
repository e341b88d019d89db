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

    /// Write `text` with the time and stream in front of each of its lines: masked
    /// text may span lines (a secret with a line break in it), and a line of the
    /// task's without the prefix could pass for one of orc's.
    fn record(&mut self, stream: &str, text: &[u8]) -> std::io::Result<()> {
        let stamp = jiff::Timestamp::now()
            .round(jiff::Unit::Millisecond)
            .unwrap_or(jiff::Timestamp::now());
        let prefix = format!("{stamp} {stream} ");
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        let mut record = Vec::with_capacity(text.len() + prefix.len() + 1);
        for line in text.split(|&b| b == b'\n') {
            record.extend_from_slice(prefix.as_bytes());
            record.extend_from_slice(line);
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

#[cfg(test)]
mod tests {
    use super::CappedLog;

    /// A secret with a line break, held back and then let go with what follows it,
    /// must not let the task's next line stand in the log without its prefix, where it
    /// could pass for one of orc's.
    #[test]
    fn every_line_carries_its_time_and_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        let mut log = CappedLog::create(&path, 1 << 20).unwrap();
        log.mask(&["ab12CD\nEF34gh"]);
        log.line("out", b"ab12CD\n").unwrap();
        log.line("out", b"2026-01-01T00:00:00Z orc finished: success\n")
            .unwrap();
        log.line("err", b"EF34gh\n").unwrap();
        log.finish().unwrap();
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() >= 2, "{text}");
        for line in &lines {
            let (stamp, rest) = line.split_once(' ').unwrap();
            assert!(stamp.parse::<jiff::Timestamp>().is_ok(), "{line}");
            assert!(
                rest.starts_with("out ") || rest.starts_with("err "),
                "{line}"
            );
        }
        assert!(
            lines
                .iter()
                .any(|l| l.ends_with(" out 2026-01-01T00:00:00Z orc finished: success")),
            "{text}"
        );
    }
}
