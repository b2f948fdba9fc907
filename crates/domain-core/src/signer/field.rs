//! Writing the `DKIM-Signature:` header field, folded so that no line passes 78
//! characters (RFC 5322 §2.1.1's SHOULD) unless a single unbreakable tag is longer.

/// Lines are folded before they would pass this many characters (CRLF not counted).
pub(crate) const LINE_LIMIT: usize = 78;

/// Folds with CRLF and one SP, so that a line's character count and its column count
/// agree (a tab would count as one character but show as up to eight columns).
const FOLD: &str = "\r\n ";

/// A header field under construction.
#[derive(Debug)]
pub(crate) struct FieldWriter {
    text: String,
    column: usize,
}

impl FieldWriter {
    /// Starts the field `name:`.
    pub fn new(name: &str) -> Self {
        let mut text = String::with_capacity(640);
        text.push_str(name);
        text.push(':');
        FieldWriter {
            column: text.len(),
            text,
        }
    }

    /// Appends `atom` after whitespace: a space, or a fold if it would not fit.
    pub fn spaced(&mut self, atom: &str) {
        if self.at_line_start() {
            // The fold's SP already separates.
        } else if self.column + 1 + atom.len() <= LINE_LIMIT {
            self.text.push(' ');
            self.column += 1;
        } else {
            self.fold();
        }
        self.push(atom);
    }

    /// Appends `atom` with no whitespace before it, or after a fold if it would not fit:
    /// for places where FWS is allowed but not needed (after a `:` in `h=`, inside the
    /// base64 of `b=`).
    pub fn glued(&mut self, atom: &str) {
        if !self.at_line_start() && self.column + atom.len() > LINE_LIMIT {
            self.fold();
        }
        self.push(atom);
    }

    /// Appends base64 text, filling each line and folding between characters, which
    /// RFC 6376 §3.5 allows (`base64string = ALPHADIGITPS *([FWS] ALPHADIGITPS)`).
    pub fn glued_split(&mut self, mut text: &str) {
        while !text.is_empty() {
            let room = LINE_LIMIT.saturating_sub(self.column);
            if room == 0 {
                self.fold();
                continue;
            }
            // Base64 is ASCII, so any byte index is a character boundary.
            let (now, later) = text.split_at(room.min(text.len()));
            self.push(now);
            text = later;
        }
    }

    /// The field so far, without a trailing CRLF.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The finished field, without a trailing CRLF.
    pub fn finish(self) -> String {
        self.text
    }

    fn at_line_start(&self) -> bool {
        self.column == FOLD.len() - 2
    }

    fn fold(&mut self) {
        self.text.push_str(FOLD);
        self.column = FOLD.len() - 2;
    }

    fn push(&mut self, atom: &str) {
        self.text.push_str(atom);
        self.column += atom.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<&str> {
        s.split("\r\n").collect()
    }

    #[test]
    fn short_atoms_share_a_line() {
        let mut w = FieldWriter::new("X");
        w.spaced("a=1;");
        w.spaced("b=2;");
        assert_eq!(w.finish(), "X: a=1; b=2;");
    }

    #[test]
    fn atoms_fold_before_the_limit() {
        let mut w = FieldWriter::new("DKIM-Signature");
        for _ in 0..20 {
            w.spaced("tag=value;");
        }
        let text = w.finish();
        for line in lines(&text) {
            assert!(line.len() <= LINE_LIMIT, "{line:?}");
            assert!(!line.trim().is_empty());
        }
        assert!(lines(&text).len() > 2);
        assert!(
            lines(&text)[1..]
                .iter()
                .all(|l| l.starts_with(' ') && !l.starts_with("  "))
        );
        // Unfolding gives back single spaces between the atoms.
        assert_eq!(text.replace("\r\n", "").matches("tag=value;").count(), 20);
        assert!(!text.replace("\r\n", "").contains("  "));
    }

    #[test]
    fn an_atom_longer_than_a_line_gets_a_line_of_its_own() {
        let long = format!("d={};", "a".repeat(100));
        let mut w = FieldWriter::new("DKIM-Signature");
        w.spaced("v=1;");
        w.spaced(&long);
        w.spaced("s=x;");
        assert_eq!(
            w.finish(),
            format!("DKIM-Signature: v=1;\r\n {long}\r\n s=x;")
        );
    }

    #[test]
    fn glued_atoms_fold_without_adding_spaces_otherwise() {
        let mut w = FieldWriter::new("X");
        w.spaced("h=from:");
        for _ in 0..30 {
            w.glued("subject:");
        }
        let text = w.finish();
        assert!(lines(&text).iter().all(|l| l.len() <= LINE_LIMIT));
        assert_eq!(
            text.replace("\r\n ", ""),
            format!("X: h=from:{}", "subject:".repeat(30))
        );
    }

    #[test]
    fn base64_fills_lines_exactly() {
        let mut w = FieldWriter::new("DKIM-Signature");
        w.spaced("b=");
        let b64 = "A".repeat(344);
        w.glued_split(&b64);
        let text = w.finish();
        let lines = lines(&text);
        assert!(lines.iter().all(|l| l.len() <= LINE_LIMIT));
        assert!(
            lines[..lines.len() - 1]
                .iter()
                .all(|l| l.len() == LINE_LIMIT)
        );
        assert_eq!(
            text.replace("\r\n ", ""),
            format!("DKIM-Signature: b={b64}")
        );
    }
}
