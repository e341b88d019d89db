//! Masking secret values in output, as CI systems do: every occurrence becomes `***`,
//! also when a value arrives split over several chunks (a long line read in pieces, a
//! multi-line value).

/// What a secret value is replaced with.
pub const MASK: &[u8] = b"***";

/// A stream filter: `push` returns what is safe to show, holding back only a tail
/// that could still become a secret; `finish` returns the rest.
#[derive(Debug, Default, Clone)]
pub struct Masker {
    /// Longest first, so that a value containing another is masked whole.
    secrets: Vec<Vec<u8>>,
    pending: Vec<u8>,
}

impl Masker {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Masker {
        let mut secrets: Vec<Vec<u8>> = values
            .into_iter()
            .filter(|v| !v.is_empty())
            .map(|v| v.as_bytes().to_vec())
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Masker {
            secrets,
            pending: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The next chunk of the stream, masked; a possible start of a secret at its end
    /// is kept back until the next chunk tells.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.secrets.is_empty() {
            return chunk.to_vec();
        }
        self.pending.extend_from_slice(chunk);
        let pending = &self.pending;
        let mut out = Vec::with_capacity(pending.len());
        let mut i = 0;
        while i < pending.len() {
            let rest = &pending[i..];
            if let Some(s) = self.secrets.iter().find(|s| rest.starts_with(s)) {
                out.extend_from_slice(MASK);
                i += s.len();
                continue;
            }
            if self
                .secrets
                .iter()
                .any(|s| s.len() > rest.len() && s.starts_with(rest))
            {
                break; // the rest may be the first part of a secret
            }
            out.push(pending[i]);
            i += 1;
        }
        self.pending.drain(..i);
        out
    }

    /// The end of the stream: what was kept back is not a secret.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    /// A whole text, masked.
    pub fn mask_text(&self, text: &str) -> String {
        let mut masker = Masker {
            secrets: self.secrets.clone(),
            pending: Vec::new(),
        };
        let mut out = masker.push(text.as_bytes());
        out.extend(masker.finish());
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(masker: &mut Masker, chunks: &[&str]) -> String {
        let mut out = Vec::new();
        for c in chunks {
            out.extend(masker.push(c.as_bytes()));
        }
        out.extend(masker.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_masked_whole_and_across_chunks() {
        let mut m = Masker::new(["S3cr3t-Value-123", "hunter2"]);
        assert_eq!(
            through(&mut m, &["pw=S3cr3t-Value-123 and hunter2\n"]),
            "pw=*** and ***\n"
        );
        assert_eq!(
            through(&mut m, &["pw=S3cr", "3t-Va", "lue-123!"]),
            "pw=***!"
        );
        // A start of a secret that turns out not to be one is shown as it was.
        assert_eq!(through(&mut m, &["hunt", "er3"]), "hunter3");
        assert_eq!(through(&mut m, &["S3cr3t"]), "S3cr3t");
    }

    #[test]
    fn every_byte_split_of_a_stream_masks_the_same() {
        let m = Masker::new(["abcabd", "line1\nline2"]);
        let text = "xxabcabcabdyy line1\nline2 zz abcab";
        let expected = m.mask_text(text);
        assert_eq!(expected, "xxabc***yy *** zz abcab");
        for cut in 0..text.len() {
            let mut m = m.clone();
            assert_eq!(
                through(&mut m, &[&text[..cut], &text[cut..]]),
                expected,
                "cut at {cut}"
            );
        }
    }
}
