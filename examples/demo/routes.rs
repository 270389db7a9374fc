//! The demo's handlers: sign up, log in ("remember me" or not), a counter,
//! the devices page, and log out. Every change ends with a flash message and
//! a redirect (post/redirect/get).

use std::time::{Duration, SystemTime};

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;
use sessionware::{
    Error, Expiry, Flash, Login, MaybeSignedIn, RecentlySignedIn, Session, SessionHandle, SignedIn,
    safe_next,
};

use crate::pages::{credentials_form, escape, page};
use crate::users::Users;

/// How long a "remember me" session lives without a visit.
const REMEMBERED: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// What the handlers share.
#[derive(Clone, Default)]
pub(crate) struct App {
    pub(crate) users: Users,
}

#[derive(Deserialize)]
pub(crate) struct Next {
    next: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Password {
    password: String,
    next: Option<String>,
}

/// The sign-in of `name`, with the stamp of their credentials: the session
/// ends when the password changes.
fn login_of(app: &App, name: &str) -> Login {
    let login = Login::new(name).method("password");
    match app.users.stamp(name) {
        Some(stamp) => login.credential(stamp.to_string()),
        None => login,
    }
}

#[derive(Deserialize)]
pub(crate) struct Credentials {
    name: String,
    password: String,
    remember: Option<String>,
    next: Option<String>,
}

pub(crate) async fn home(visitor: MaybeSignedIn, flash: Flash) -> Result<Html<String>, Error> {
    let flashes = flash.take();
    let body = match &visitor.user {
        Some(_) => {
            let count: u64 = visitor.session.get("count")?.unwrap_or(0);
            format!(
                "<p>You pressed the button <b id=\"count\">{count}</b> times.</p>\
                 <form method=\"post\" action=\"/count\"><button id=\"press\">press</button></form>"
            )
        }
        None => "<p>Sign up or log in to use the counter.</p>".to_owned(),
    };
    Ok(Html(page("Home", visitor.user.as_deref(), &flashes, &body)))
}

pub(crate) async fn count(signed_in: SignedIn, flash: Flash) -> Result<Redirect, Error> {
    let session = &signed_in.session;
    let count: u64 = session.get("count")?.unwrap_or(0);
    session.insert("count", count + 1)?;
    flash.info(format!("Pressed {} times", count + 1))?;
    Ok(Redirect::to("/"))
}

pub(crate) async fn signup_page(visitor: MaybeSignedIn, flash: Flash) -> Html<String> {
    let form = credentials_form("/signup", None, false);
    Html(page(
        "Sign up",
        visitor.user.as_deref(),
        &flash.take(),
        &form,
    ))
}

pub(crate) async fn signup(
    State(app): State<App>,
    session: Session,
    flash: Flash,
    Form(form): Form<Credentials>,
) -> Result<Redirect, Error> {
    if form.name.trim().is_empty() || form.password.len() < 8 {
        flash.error("Choose a name and a password of at least 8 characters")?;
        return Ok(Redirect::to("/signup"));
    }
    if !app.users.sign_up(&form.name, &form.password) {
        flash.error("That name is taken")?;
        return Ok(Redirect::to("/signup"));
    }
    session.login_with(login_of(&app, &form.name));
    flash.success(format!("Welcome, {}", form.name))?;
    Ok(Redirect::to("/"))
}

pub(crate) async fn login_page(
    visitor: MaybeSignedIn,
    flash: Flash,
    Query(query): Query<Next>,
) -> Html<String> {
    let next = query.next.as_deref().and_then(safe_next);
    let form = credentials_form("/login", next, true);
    Html(page(
        "Log in",
        visitor.user.as_deref(),
        &flash.take(),
        &form,
    ))
}

pub(crate) async fn login(
    State(app): State<App>,
    session: Session,
    flash: Flash,
    Form(form): Form<Credentials>,
) -> Result<Redirect, Error> {
    // Only a local path goes back into a redirect: never an open redirect.
    let next = form.next.as_deref().and_then(safe_next);
    if !app.users.check(&form.name, &form.password) {
        flash.error("Wrong name or password")?;
        let back = match next {
            Some(next) => format!(
                "/login?next={}",
                percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
            ),
            None => "/login".to_owned(),
        };
        return Ok(Redirect::to(&back));
    }
    session.login_with(login_of(&app, &form.name));
    if form.remember.is_some() {
        session.set_expiry(Expiry::OnInactivity(REMEMBERED));
    }
    flash.success(format!("Signed in as {}", form.name))?;
    Ok(Redirect::to(next.unwrap_or("/")))
}

pub(crate) async fn logout(session: Session, flash: Flash) -> Result<Redirect, Error> {
    // `clear` signs out and drops the data; the cycle gives the anonymous
    // session that carries the message a fresh id. (`logout` would end the
    // session, message included.)
    session.clear();
    session.cycle_id();
    flash.info("Signed out")?;
    Ok(Redirect::to("/"))
}

/// How long ago `time` was, for people.
fn ago(time: SystemTime) -> String {
    let seconds = SystemTime::now()
        .duration_since(time)
        .map_or(0, |elapsed| elapsed.as_secs());
    match seconds {
        0..60 => format!("{seconds} s ago"),
        60..3600 => format!("{} min ago", seconds / 60),
        _ => format!("{} h ago", seconds / 3600),
    }
}

pub(crate) async fn devices(signed_in: SignedIn, flash: Flash) -> Result<Html<String>, Error> {
    let session = &signed_in.session;
    let current = session.handle();
    let mut rows = String::new();
    for device in session.devices().await? {
        let metadata = device.metadata.clone().unwrap_or_default();
        let this = Some(device.handle) == current;
        let action = if this {
            "this device".to_owned()
        } else {
            format!(
                "<form method=\"post\" action=\"/devices/{handle}/revoke\">\
                 <button class=\"revoke\">sign out this device</button></form>",
                handle = device.handle
            )
        };
        rows.push_str(&format!(
            "<tr class=\"device{mark}\"><td>{agent}</td><td>{ip}</td><td>{created}</td><td>{seen}</td><td>{action}</td></tr>",
            mark = if this { " this" } else { "" },
            agent = escape(metadata.user_agent.as_deref().unwrap_or("unknown")),
            ip = metadata.ip.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into()),
            created = ago(device.created_at),
            seen = ago(device.last_seen),
        ));
    }
    let body = format!(
        "<table id=\"devices\"><tr><th>device</th><th>address</th><th>signed in</th><th>last seen</th><th></th></tr>{rows}</table>\
         <form method=\"post\" action=\"/devices/revoke-others\"><button id=\"revoke-others\">sign out everywhere else</button></form>"
    );
    Ok(Html(page(
        "Your devices",
        Some(&signed_in.user),
        &flash.take(),
        &body,
    )))
}

pub(crate) async fn revoke_device(
    signed_in: SignedIn,
    flash: Flash,
    Path(handle): Path<SessionHandle>,
) -> Result<Redirect, Error> {
    if signed_in.session.revoke_device(&handle).await? {
        flash.success("That device is signed out")?;
    } else {
        flash.warning("No such device")?;
    }
    Ok(Redirect::to("/devices"))
}

pub(crate) async fn revoke_others(signed_in: SignedIn, flash: Flash) -> Result<Redirect, Error> {
    let ended = signed_in.session.revoke_other_devices().await?;
    flash.success(format!("Signed out {ended} other devices"))?;
    Ok(Redirect::to("/devices"))
}

/// Settings ask for a sign-in of the last minute (kept short so the demo
/// shows it): changing the password is a sensitive action.
pub(crate) async fn settings(
    recent: RecentlySignedIn<1>,
    flash: Flash,
) -> Result<Html<String>, Error> {
    let body = "<p>You signed in less than a minute ago, so you may change your password. \
                Every other device is then signed out.</p>\
                <form method=\"post\" action=\"/settings/password\">\
                <label>new password <input name=\"password\" id=\"new-password\" type=\"password\" required></label> \
                <button id=\"change\">change</button></form>";
    Ok(Html(page(
        "Settings",
        Some(&recent.user),
        &flash.take(),
        body,
    )))
}

pub(crate) async fn change_password(
    State(app): State<App>,
    recent: RecentlySignedIn<1>,
    flash: Flash,
    Form(form): Form<Password>,
) -> Result<Redirect, Error> {
    if form.password.len() < 8 {
        flash.error("Choose a password of at least 8 characters")?;
        return Ok(Redirect::to("/settings"));
    }
    if app
        .users
        .change_password(&recent.user, &form.password)
        .is_none()
    {
        flash.error("No such account")?;
        return Ok(Redirect::to("/settings"));
    }
    // This device signs in again under the new credentials; the others end
    // at their next request.
    recent.session.login_with(login_of(&app, &recent.user));
    flash.success("Password changed; every other device is signed out")?;
    Ok(Redirect::to("/settings"))
}

pub(crate) async fn reauth_page(
    signed_in: SignedIn,
    flash: Flash,
    Query(query): Query<Next>,
) -> Html<String> {
    let next = query
        .next
        .as_deref()
        .and_then(safe_next)
        .map(|next| {
            format!(
                "<input type=\"hidden\" name=\"next\" value=\"{}\">",
                escape(next)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<p>Please enter your password again.</p><form method=\"post\" action=\"/reauth\">{next}\
         <label>password <input name=\"password\" id=\"password\" type=\"password\" required></label> \
         <button id=\"submit\">confirm</button></form>"
    );
    Html(page(
        "Confirm it is you",
        Some(&signed_in.user),
        &flash.take(),
        &body,
    ))
}

pub(crate) async fn reauth(
    State(app): State<App>,
    signed_in: SignedIn,
    flash: Flash,
    Form(form): Form<Password>,
) -> Result<Redirect, Error> {
    let next = form.next.as_deref().and_then(safe_next).unwrap_or("/");
    if !app.users.check(&signed_in.user, &form.password) {
        flash.error("Wrong password")?;
        // Back to the form, still on the way to the same page.
        let again = format!(
            "/reauth?next={}",
            percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
        );
        return Ok(Redirect::to(&again));
    }
    signed_in.session.reauthenticate_with("password");
    Ok(Redirect::to(next))
}
