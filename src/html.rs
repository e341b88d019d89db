//! HTML escaping, for the dashboard, the alert mails and the report.
//!
//! Their pages are built with `maud::html!`, which escapes every value it
//! interpolates; [`escape`] is for a value that has to be escaped outside a template.
//! maud leaves `'` as it is (safe: it quotes every attribute with `"`); where a
//! value should read as before, with `&#39;`, [`Text`] renders it through [`escape`].

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value that a maud template renders through [`escape`] (apostrophes too).
pub struct Text<'a>(pub &'a str);

impl maud::Render for Text<'_> {
    fn render_to(&self, buffer: &mut String) {
        buffer.push_str(&escape(self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_characters_are_escaped() {
        assert_eq!(
            escape("<script>alert(1)</script> \"'& ok"),
            "&lt;script&gt;alert(1)&lt;/script&gt; &quot;&#39;&amp; ok"
        );
        assert_eq!(escape("plain · text"), "plain · text");
        let markup = maud::html! { p title=(Text("it's")) { (Text("<b>'")) } };
        assert_eq!(
            markup.into_string(),
            "<p title=\"it&#39;s\">&lt;b&gt;&#39;</p>"
        );
    }
}
