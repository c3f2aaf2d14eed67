//! Text spans, the answers of a `spans` (named-entity) project: each span is one string
//! `start:end:label`, with character offsets into the task's `text` (Unicode scalar values,
//! end exclusive), so a span answer travels as labels do.

use std::fmt;

/// One labelled stretch of a task's text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub label: String,
}

impl Span {
    /// Reads `start:end:label`; the label may itself hold colons.
    ///
    /// ```
    /// use tessera_core::Span;
    /// let s = Span::parse("4:9:PER").unwrap();
    /// assert_eq!((s.start, s.end, s.label.as_str()), (4, 9, "PER"));
    /// assert_eq!(s.to_string(), "4:9:PER");
    /// assert!(Span::parse("9:4:PER").is_none()); // empty or reversed
    /// ```
    pub fn parse(text: &str) -> Option<Span> {
        let mut parts = text.splitn(3, ':');
        let start = parts.next()?.parse().ok()?;
        let end = parts.next()?.parse().ok()?;
        let label = parts.next()?;
        (start < end && !label.is_empty()).then(|| Span {
            start,
            end,
            label: label.to_owned(),
        })
    }

    /// The span's piece of `text`, when it lies within it.
    pub fn excerpt<'t>(&self, text: &'t str) -> Option<&'t str> {
        let mut bounds = text
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(text.len()));
        let from = bounds.nth(self.start)?;
        let to = bounds.nth(self.end - self.start - 1)?;
        text.get(from..to)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.start, self.end, self.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_back_what_they_write_and_cut_by_characters() {
        let s = Span::parse("0:4:ORG:EU").expect("valid");
        assert_eq!(s.label, "ORG:EU");
        assert_eq!(Span::parse(&s.to_string()), Some(s.clone()));
        assert_eq!(s.excerpt("Zürich is"), Some("Züri"));
        assert_eq!(
            Span::parse("6:9:X").and_then(|s| s.excerpt("Zürich is")),
            Some(" is")
        );
        assert_eq!(
            Span::parse("6:20:X").and_then(|s| s.excerpt("Zürich")),
            None
        );
        for bad in ["", "1:2", "a:2:X", "1:b:X", "3:3:X", "1:2:", "-1:2:X"] {
            assert_eq!(Span::parse(bad), None, "{bad:?}");
        }
    }
}
