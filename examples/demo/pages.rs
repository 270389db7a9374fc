//! The demo's HTML: one layout, escaped text, and the flash messages.

use sessionware::FlashMessage;

/// `text` escaped for HTML text and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// A whole page: the navigation for `user`, the flash messages, then `body`
/// (already HTML).
pub(crate) fn page(
    title: &str,
    user: Option<&str>,
    flashes: &[FlashMessage],
    body: &str,
) -> String {
    let nav = match user {
        Some(user) => format!(
            "signed in as <b id=\"user\">{}</b> · <a href=\"/\">home</a> · \
             <a href=\"/devices\">your devices</a> · <a href=\"/settings\">settings</a> · \
             <form class=\"inline\" method=\"post\" action=\"/logout\"><button id=\"logout\">log out</button></form>",
            escape(user)
        ),
        None => "<a href=\"/\">home</a> · <a href=\"/login\">log in</a> · <a href=\"/signup\">sign up</a>"
            .to_owned(),
    };
    let flashes: String = flashes
        .iter()
        .map(|message| {
            format!(
                "<p class=\"flash {}\">{}</p>",
                message.level,
                escape(&message.text)
            )
        })
        .collect();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title} · sessionware demo</title>\
         <style>body{{font-family:sans-serif;max-width:48rem;margin:2rem auto}} \
         .flash{{padding:.5rem;border-radius:4px}} .success{{background:#d4f7d4}} \
         .error{{background:#f7d4d4}} .info{{background:#d4e4f7}} .warning{{background:#f7f0d4}} \
         .inline{{display:inline}} table{{border-collapse:collapse}} td,th{{padding:.3rem .6rem;border:1px solid #ccc}}</style>\
         </head><body><nav>{nav}</nav><div id=\"flashes\">{flashes}</div><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    )
}

/// The sign-in and sign-up form, posting to `action` with `next` kept.
pub(crate) fn credentials_form(action: &str, next: Option<&str>, remember: bool) -> String {
    let next = next
        .map(|next| {
            format!(
                "<input type=\"hidden\" name=\"next\" value=\"{}\">",
                escape(next)
            )
        })
        .unwrap_or_default();
    let remember = if remember {
        "<label><input type=\"checkbox\" name=\"remember\" value=\"on\" id=\"remember\"> remember me for 30 days</label><br>"
    } else {
        ""
    };
    format!(
        "<form method=\"post\" action=\"{action}\">{next}\
         <label>name <input name=\"name\" id=\"name\" required></label><br>\
         <label>password <input name=\"password\" id=\"password\" type=\"password\" required></label><br>\
         {remember}<button id=\"submit\">go</button></form>"
    )
}
