//! The console's two languages. Every text the console shows is a field of [`Texts`], and
//! [`DA`] and [`EN`] are values of it, so a text missing in one language does not compile.
//! Which one a request gets: `?lang=` (then remembered in a cookie), the cookie,
//! `Accept-Language`, else Danish.

use axum::http::request::Parts;

/// The cookie that remembers the language chosen with `?lang=`.
pub const LANG_COOKIE: &str = "krog_lang";

/// A language of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Danish, the default.
    Da,
    /// English.
    En,
}

impl Lang {
    /// `da` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Da => "da",
            Lang::En => "en",
        }
    }

    /// The language with this code.
    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "da" => Some(Lang::Da),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language (for the switch in the header).
    pub fn other(self) -> Lang {
        match self {
            Lang::Da => Lang::En,
            Lang::En => Lang::Da,
        }
    }

    /// The texts in this language.
    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Da => &DA,
            Lang::En => &EN,
        }
    }

    /// The language a request asks for (see the module's docs).
    pub fn of(parts: &Parts) -> Lang {
        if let Some(lang) = chosen(&parts.uri) {
            return lang;
        }
        let cookie = axum_extra::extract::cookie::CookieJar::from_headers(&parts.headers);
        if let Some(lang) = cookie.get(LANG_COOKIE).and_then(|c| Lang::parse(c.value())) {
            return lang;
        }
        parts
            .headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(from_accept_language)
            .unwrap_or(Lang::Da)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Lang, Self::Rejection> {
        Ok(Lang::of(parts))
    }
}

/// The language named by `?lang=` in the request, if any.
pub fn chosen(uri: &axum::http::Uri) -> Option<Lang> {
    uri.query().and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "lang")
            .and_then(|(_, value)| Lang::parse(&value))
    })
}

/// The first of Danish or English in an `Accept-Language` list, by the order of preference
/// (`q`), if either is there.
fn from_accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(f32, Lang)> = None;
    for item in header.split(',') {
        let mut pieces = item.split(';');
        let tag = pieces.next().unwrap_or("").trim();
        let primary = tag.split('-').next().unwrap_or("");
        let Some(lang) = Lang::parse(primary) else {
            continue;
        };
        let q = pieces
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

/// Every text of the console, in one language.
pub struct Texts {
    /// `<html lang>`.
    pub code: &'static str,
    /// The link that switches to the other language, in that language.
    pub other_language: &'static str,
    pub skip_to_content: &'static str,
    pub nav_integrations: &'static str,
    pub nav_add: &'static str,
    pub logout: &'static str,
    pub back_home: &'static str,

    pub not_found_title: &'static str,
    pub not_found_body: &'static str,
    pub logged_out_title: &'static str,
    pub logged_out_body: &'static str,
    pub link_refused_title: &'static str,
    pub link_refused_body: &'static str,
    pub csrf_title: &'static str,
    pub csrf_body: &'static str,
    pub error_title: &'static str,
    pub error_body: &'static str,
    pub refused_title: &'static str,
    pub too_large: &'static str,
    pub main_menu: &'static str,
    pub signed_in_as: &'static str,
    pub switch_title: &'static str,
    pub switch_body: fn(&str, &str) -> String,
    pub switch_confirm: &'static str,
    pub switch_stay: &'static str,
    pub status: &'static str,
    pub show_deliveries: &'static str,
    pub default_option: &'static str,
    pub technical: &'static str,

    pub home_title: &'static str,
    pub home_intro: &'static str,
    pub home_empty: &'static str,
    pub add_first: &'static str,
    pub events: &'static str,
    pub last_delivery: &'static str,
    pub none_yet: &'static str,
    pub last_24h: fn(i64, i64) -> String,
    pub state_active: &'static str,
    pub state_paused: &'static str,
    pub state_failing: &'static str,
    pub state_gone: &'static str,
    pub open: &'static str,
    pub goes_to: &'static str,

    pub event_created: &'static str,
    pub event_updated: &'static str,
    pub event_deleted: &'static str,
    pub event_subscription_disabled: &'static str,
    pub event_delivery_failed: &'static str,
    pub operational_events: &'static str,

    pub status_pending: &'static str,
    pub status_succeeded: &'static str,
    pub status_failed: &'static str,
    pub status_skipped: &'static str,

    pub add_title: &'static str,
    pub add_intro: &'static str,
    pub tile_slack: &'static str,
    pub tile_sheets: &'static str,
    pub tile_webhook: &'static str,
    pub tile_custom_name: &'static str,
    pub tile_custom: &'static str,
    pub custom_title: &'static str,
    pub your_modules: &'static str,
    pub catalog_modules: &'static str,
    pub no_modules: &'static str,
    pub kind_webhook: &'static str,

    pub new_title: fn(&str) -> String,
    pub edit_title: fn(&str) -> String,
    pub field_name: &'static str,
    pub field_name_help: &'static str,
    pub field_url: &'static str,
    pub help_slack: &'static str,
    pub help_sheets_intro: &'static str,
    pub help_sheets_steps: [&'static str; 5],
    pub help_sheets_script: &'static str,
    pub help_webhook: &'static str,
    pub help_custom: &'static str,
    pub copy: &'static str,
    pub field_events: &'static str,
    pub settings: &'static str,
    pub no_settings: &'static str,
    pub settings_from_module: &'static str,
    pub preview: &'static str,
    pub preview_title: &'static str,
    pub preview_skipped: &'static str,
    pub preview_failed: &'static str,
    pub preview_body: &'static str,
    pub save: &'static str,
    pub cancel: &'static str,
    pub fix_errors: &'static str,
    pub required: &'static str,
    pub pick_event: &'static str,
    pub not_a_number: &'static str,
    pub not_whole: &'static str,
    pub not_json: &'static str,
    pub url_refused: &'static str,
    pub refused_by_krog: &'static str,

    pub saved_title: &'static str,
    pub secret_label: &'static str,
    pub secret_once: &'static str,
    pub rotated_title: &'static str,
    pub send_test: &'static str,
    pub go_to_integration: &'static str,

    pub edit: &'static str,
    pub pause: &'static str,
    pub resume: &'static str,
    pub delete: &'static str,
    pub rotate: &'static str,
    pub rotate_help: &'static str,
    pub delete_title: fn(&str) -> String,
    pub delete_body: &'static str,
    pub delete_confirm: &'static str,
    pub banner_failing: fn(&str) -> String,
    pub banner_gone: &'static str,
    pub banner_paused: &'static str,
    pub enable_resend: &'static str,
    pub deliveries: &'static str,
    pub show: &'static str,
    pub filter_all: &'static str,
    pub no_deliveries: &'static str,
    pub col_time: &'static str,
    pub col_event: &'static str,
    pub col_result: &'static str,
    pub col_attempts: &'static str,
    pub col_answer: &'static str,
    pub col_error: &'static str,
    pub col_response: &'static str,
    pub col_duration: &'static str,
    pub send_again: &'static str,
    pub send_again_all: &'static str,
    pub older: &'static str,
    pub delivery_title: &'static str,
    pub attempts: &'static str,
    pub no_attempts: &'static str,
    pub next_attempt: fn(&str) -> String,
    pub skipped_because: fn(&str) -> String,

    pub done_saved: &'static str,
    pub done_paused: &'static str,
    pub done_resumed: &'static str,
    pub done_deleted: &'static str,
    pub done_test: &'static str,
    pub done_retried: &'static str,
    pub done_retried_all: fn(usize) -> String,
    pub done_enabled: fn(usize) -> String,

    pub error_http_status: fn(i64) -> String,
    pub error_timeout: &'static str,
    pub error_connect: &'static str,
    pub error_plugin: &'static str,
    pub error_other: &'static str,
}

/// Danish.
pub static DA: Texts = Texts {
    code: "da",
    other_language: "English",
    skip_to_content: "Spring til indholdet",
    nav_integrations: "Integrationer",
    nav_add: "Tilføj integration",
    logout: "Log ud",
    back_home: "Tilbage til integrationerne",

    not_found_title: "Siden findes ikke",
    not_found_body: "Integrationen eller siden findes ikke, eller den hører til en anden klinik.",
    logged_out_title: "Du er ikke logget ind",
    logged_out_body: "Åbn konsollen igen fra webhook-siden i jeres bookingsystem. Et login-link kan kun bruges én gang og gælder i 15 minutter.",
    link_refused_title: "Linket virker ikke længere",
    link_refused_body: "Login-linket er allerede blevet brugt eller er udløbet. Åbn konsollen igen fra jeres bookingsystem for at få et nyt.",
    csrf_title: "Formularen kunne ikke sendes",
    csrf_body: "Du er måske logget ind igen i et andet vindue, eller formularen kom et andet sted fra. Genindlæs siden, og prøv igen.",
    error_title: "Noget gik galt",
    error_body: "Prøv igen om lidt. Hvis det bliver ved, så kontakt den, der står for krog hos jer.",
    refused_title: "Det kunne ikke lade sig gøre",
    too_large: "Formularen er for stor. Gør teksterne kortere, og prøv igen.",
    main_menu: "Hovedmenu",
    signed_in_as: "Logget ind for",
    switch_title: "Skift klinik?",
    switch_body: |now, next| {
        format!("Du er logget ind for {now}. Linket åbner konsollen for {next}.")
    },
    switch_confirm: "Fortsæt til den anden klinik",
    switch_stay: "Bliv, hvor jeg er",
    status: "Status",
    show_deliveries: "Vis leveringer",
    default_option: "— (standard)",
    technical: "Teknisk besked:",

    home_title: "Integrationer",
    home_intro: "Her kan du se, hvor jeres bookinger bliver sendt hen, og om det virker.",
    home_empty: "I har ingen integrationer endnu.",
    add_first: "Tilføj den første",
    events: "Hændelser",
    last_delivery: "Seneste levering",
    none_yet: "Ingen endnu",
    last_24h: |ok, failed| format!("Seneste døgn: {ok} leveret, {failed} mislykkedes"),
    state_active: "Aktiv",
    state_paused: "På pause",
    state_failing: "Stoppet efter fejl",
    state_gone: "Stoppet: adressen findes ikke længere",
    open: "Åbn",
    goes_to: "Sendes til",

    event_created: "Ny booking",
    event_updated: "Ændret booking",
    event_deleted: "Aflyst booking",
    event_subscription_disabled: "En anden integration er stoppet",
    event_delivery_failed: "En levering mislykkedes endeligt",
    operational_events: "Advarsler om jeres andre integrationer",

    status_pending: "Venter",
    status_succeeded: "Leveret",
    status_failed: "Mislykket",
    status_skipped: "Sprunget over",

    add_title: "Tilføj en integration",
    add_intro: "Vælg, hvor bookingerne skal hen.",
    tile_slack: "En besked i en Slack-kanal for hver booking.",
    tile_sheets: "En række i et Google-regneark for hver booking.",
    tile_webhook: "Hændelsen som JSON til jeres egen server.",
    tile_custom_name: "Andet modul",
    tile_custom: "Et modul, som jeres udvikler har lavet, eller et andet fra kataloget.",
    custom_title: "Vælg et modul",
    your_modules: "Jeres egne moduler",
    catalog_modules: "Kataloget",
    no_modules: "Ingen endnu.",
    kind_webhook: "Webhook",

    new_title: |kind| format!("Ny integration: {kind}"),
    edit_title: |name| format!("Rediger {name}"),
    field_name: "Navn",
    field_name_help: "Så I kan kende den igen, f.eks. »Receptionens Slack«.",
    field_url: "Adresse (URL)",
    help_slack: "I Slack: åbn Apps, find »Incoming Webhooks«, vælg »Add to Slack« og kanalen, og kopiér webhook-adressen. Den begynder med https://hooks.slack.com/services/.",
    help_sheets_intro: "Regnearket modtager rækkerne gennem et lille script:",
    help_sheets_steps: [
        "Åbn regnearket i Google Sheets.",
        "Vælg Udvidelser → Apps Script.",
        "Slet det, der står, og indsæt scriptet herunder (brug knappen Kopiér).",
        "Vælg Implementer → Ny implementering → Webapp. Udfør som: mig. Adgang: alle.",
        "Kopiér webappens adresse, og indsæt den i feltet herover.",
    ],
    help_sheets_script: "Scriptet",
    help_webhook: "Adressen på jeres egen server. Hver levering er signeret efter standarden Standard Webhooks.",
    help_custom: "Adressen, modulet skal sende til.",
    copy: "Kopiér",
    field_events: "Hvilke hændelser?",
    settings: "Indstillinger",
    no_settings: "Dette modul har ingen indstillinger.",
    settings_from_module: "Felterne kommer fra modulet og kan være på et andet sprog.",
    preview: "Vis eksempel",
    preview_title: "Sådan ser det ud for en eksempelbooking",
    preview_skipped: "Denne booking ville ikke blive sendt:",
    preview_failed: "Modulet fejlede på eksempelbookingen:",
    preview_body: "Det, der bliver sendt",
    save: "Gem",
    cancel: "Annuller",
    fix_errors: "Ret de markerede felter, og prøv igen.",
    required: "Skal udfyldes.",
    pick_event: "Vælg mindst én hændelse.",
    not_a_number: "Skriv et tal.",
    not_whole: "Skriv et helt tal.",
    not_json: "Skriv gyldig JSON.",
    url_refused: "Adressen kan ikke bruges:",
    refused_by_krog: "krog afviste det:",

    saved_title: "Integrationen er gemt",
    secret_label: "Signeringsnøgle",
    secret_once: "Kopiér den nu: den bliver ikke vist igen. Modtageren bruger den til at tjekke, at beskederne kommer fra krog.",
    rotated_title: "Ny signeringsnøgle",
    send_test: "Send en test",
    go_to_integration: "Gå til integrationen",

    edit: "Rediger",
    pause: "Sæt på pause",
    resume: "Genoptag",
    delete: "Slet",
    rotate: "Ny signeringsnøgle",
    rotate_help: "Den gamle nøgle virker stadig i et stykke tid, så modtageren kan nå at skifte.",
    delete_title: |name| format!("Slet {name}?"),
    delete_body: "Der bliver ikke sendt mere hertil, og integrationens leveringslog slettes.",
    delete_confirm: "Ja, slet den",
    banner_failing: |since| {
        format!("Integrationen er stoppet, fordi modtageren har fejlet siden {since}.")
    },
    banner_gone: "Integrationen er stoppet, fordi modtageren svarede, at adressen ikke findes længere (410).",
    banner_paused: "Integrationen er på pause. Der bliver ikke sendt noget.",
    enable_resend: "Start igen, og send de mislykkede igen",
    deliveries: "Leveringer",
    show: "Vis",
    filter_all: "Alle",
    no_deliveries: "Ingen leveringer.",
    col_time: "Tidspunkt",
    col_event: "Hændelse",
    col_result: "Resultat",
    col_attempts: "Forsøg",
    col_answer: "Svar",
    col_error: "Fejl",
    col_response: "Starten af svaret",
    col_duration: "Varighed",
    send_again: "Send igen",
    send_again_all: "Send alle mislykkede igen",
    older: "Ældre leveringer",
    delivery_title: "Levering",
    attempts: "Forsøg",
    no_attempts: "Ingen forsøg endnu.",
    next_attempt: |when| format!("Næste forsøg: {when}"),
    skipped_because: |why| format!("Modulet sprang den over: {why}"),

    done_saved: "Ændringerne er gemt.",
    done_paused: "Integrationen er sat på pause.",
    done_resumed: "Integrationen er genoptaget.",
    done_deleted: "Integrationen er slettet.",
    done_test: "Testen er sendt. Resultatet står under Leveringer om et øjeblik.",
    done_retried: "Leveringen bliver sendt igen.",
    done_retried_all: |n| match n {
        0 => "Der var ingen mislykkede leveringer at sende igen.".into(),
        1 => "1 mislykket levering bliver sendt igen.".into(),
        n => format!("{n} mislykkede leveringer bliver sendt igen."),
    },
    done_enabled: |n| match n {
        0 => "Integrationen kører igen.".into(),
        1 => "Integrationen kører igen, og 1 mislykket levering bliver sendt igen.".into(),
        n => format!("Integrationen kører igen, og {n} mislykkede leveringer bliver sendt igen."),
    },

    error_http_status: |code| format!("Modtageren svarede med fejlkode {code}"),
    error_timeout: "Modtageren svarede ikke i tide",
    error_connect: "Kunne ikke få forbindelse til modtageren",
    error_plugin: "Modulet fejlede",
    error_other: "Fejl",
};

/// English.
pub static EN: Texts = Texts {
    code: "en",
    other_language: "Dansk",
    skip_to_content: "Skip to content",
    nav_integrations: "Integrations",
    nav_add: "Add an integration",
    logout: "Log out",
    back_home: "Back to the integrations",

    not_found_title: "Page not found",
    not_found_body: "The integration or page does not exist, or it belongs to another clinic.",
    logged_out_title: "You are not logged in",
    logged_out_body: "Open the console again from the webhooks page of your booking system. A login link works once, for 15 minutes.",
    link_refused_title: "This link no longer works",
    link_refused_body: "The login link has been used or has expired. Open the console again from your booking system to get a new one.",
    csrf_title: "This form is out of date",
    csrf_body: "You may have logged in again in another window, or the form came from somewhere else. Reload the page and try again.",
    error_title: "Something went wrong",
    error_body: "Try again in a moment. If it keeps happening, contact whoever runs krog for you.",
    refused_title: "That could not be done",
    too_large: "The form is too large. Make the texts shorter and try again.",
    main_menu: "Main",
    signed_in_as: "Signed in for",
    switch_title: "Switch clinic?",
    switch_body: |now, next| {
        format!("You are signed in for {now}. The link opens the console for {next}.")
    },
    switch_confirm: "Go on to the other clinic",
    switch_stay: "Stay where I am",
    status: "Status",
    show_deliveries: "Show deliveries",
    default_option: "— (default)",
    technical: "Technical message:",

    home_title: "Integrations",
    home_intro: "Where your bookings are sent, and whether it works.",
    home_empty: "You have no integrations yet.",
    add_first: "Add the first one",
    events: "Events",
    last_delivery: "Last delivery",
    none_yet: "None yet",
    last_24h: |ok, failed| format!("Last 24 hours: {ok} delivered, {failed} failed"),
    state_active: "Active",
    state_paused: "Paused",
    state_failing: "Stopped after failures",
    state_gone: "Stopped: the address is gone",
    open: "Open",
    goes_to: "Goes to",

    event_created: "New booking",
    event_updated: "Changed booking",
    event_deleted: "Cancelled booking",
    event_subscription_disabled: "Another integration stopped",
    event_delivery_failed: "A delivery failed for good",
    operational_events: "Alerts about your other integrations",

    status_pending: "Pending",
    status_succeeded: "Delivered",
    status_failed: "Failed",
    status_skipped: "Skipped",

    add_title: "Add an integration",
    add_intro: "Choose where the bookings should go.",
    tile_slack: "A message in a Slack channel for each booking.",
    tile_sheets: "A row in a Google spreadsheet for each booking.",
    tile_webhook: "The event as JSON to your own server.",
    tile_custom_name: "Other module",
    tile_custom: "A module your developer made, or another one from the catalog.",
    custom_title: "Choose a module",
    your_modules: "Your own modules",
    catalog_modules: "The catalog",
    no_modules: "None yet.",
    kind_webhook: "Webhook",

    new_title: |kind| format!("New integration: {kind}"),
    edit_title: |name| format!("Edit {name}"),
    field_name: "Name",
    field_name_help: "So you can tell it apart, e.g. \"Reception Slack\".",
    field_url: "Address (URL)",
    help_slack: "In Slack: open Apps, find \"Incoming Webhooks\", choose \"Add to Slack\" and the channel, and copy the webhook URL. It starts with https://hooks.slack.com/services/.",
    help_sheets_intro: "The spreadsheet receives the rows through a small script:",
    help_sheets_steps: [
        "Open the spreadsheet in Google Sheets.",
        "Choose Extensions → Apps Script.",
        "Delete what is there and paste the script below (use the Copy button).",
        "Choose Deploy → New deployment → Web app. Execute as: Me. Who has access: Anyone.",
        "Copy the web app's URL and paste it in the field above.",
    ],
    help_sheets_script: "The script",
    help_webhook: "Your own server's address. Every delivery is signed according to the Standard Webhooks spec.",
    help_custom: "The address the module sends to.",
    copy: "Copy",
    field_events: "Which events?",
    settings: "Settings",
    no_settings: "This module has no settings.",
    settings_from_module: "The fields come from the module, in the module's own language.",
    preview: "Preview",
    preview_title: "How it looks for a sample booking",
    preview_skipped: "This booking would not be sent:",
    preview_failed: "The module failed on the sample booking:",
    preview_body: "What is sent",
    save: "Save",
    cancel: "Cancel",
    fix_errors: "Fix what is marked and try again.",
    required: "Required.",
    pick_event: "Choose at least one event.",
    not_a_number: "Enter a number.",
    not_whole: "Enter a whole number.",
    not_json: "Enter valid JSON.",
    url_refused: "This address cannot be used:",
    refused_by_krog: "krog refused it:",

    saved_title: "The integration is saved",
    secret_label: "Signing secret",
    secret_once: "Copy it now: it is not shown again. The receiver uses it to check that messages come from krog.",
    rotated_title: "New signing secret",
    send_test: "Send a test",
    go_to_integration: "Go to the integration",

    edit: "Edit",
    pause: "Pause",
    resume: "Resume",
    delete: "Delete",
    rotate: "New signing secret",
    rotate_help: "The old secret keeps working for a while, so the receiver has time to switch.",
    delete_title: |name| format!("Delete {name}?"),
    delete_body: "Nothing more is sent here, and the integration's delivery log is deleted.",
    delete_confirm: "Yes, delete it",
    banner_failing: |since| {
        format!("The integration stopped because the receiver has failed since {since}.")
    },
    banner_gone: "The integration stopped because the receiver answered that the address no longer exists (410).",
    banner_paused: "The integration is paused. Nothing is sent.",
    enable_resend: "Start again and resend what failed",
    deliveries: "Deliveries",
    show: "Show",
    filter_all: "All",
    no_deliveries: "No deliveries.",
    col_time: "Time",
    col_event: "Event",
    col_result: "Result",
    col_attempts: "Attempts",
    col_answer: "Answer",
    col_error: "Error",
    col_response: "Start of the answer",
    col_duration: "Duration",
    send_again: "Send again",
    send_again_all: "Send all failed again",
    older: "Older deliveries",
    delivery_title: "Delivery",
    attempts: "Attempts",
    no_attempts: "No attempts yet.",
    next_attempt: |when| format!("Next attempt: {when}"),
    skipped_because: |why| format!("The module skipped it: {why}"),

    done_saved: "The changes are saved.",
    done_paused: "The integration is paused.",
    done_resumed: "The integration is running again.",
    done_deleted: "The integration is deleted.",
    done_test: "The test was sent. Its result shows under Deliveries in a moment.",
    done_retried: "The delivery is being sent again.",
    done_retried_all: |n| match n {
        0 => "There were no failed deliveries to send again.".into(),
        1 => "1 failed delivery is being sent again.".into(),
        n => format!("{n} failed deliveries are being sent again."),
    },
    done_enabled: |n| match n {
        0 => "The integration runs again.".into(),
        1 => "The integration runs again, and 1 failed delivery is being sent again.".into(),
        n => format!("The integration runs again, and {n} failed deliveries are being sent again."),
    },

    error_http_status: |code| format!("The receiver answered with status {code}"),
    error_timeout: "The receiver did not answer in time",
    error_connect: "Could not connect to the receiver",
    error_plugin: "The module failed",
    error_other: "Error",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_of_danish_and_english() {
        assert_eq!(from_accept_language("en-GB,en;q=0.9"), Some(Lang::En));
        assert_eq!(from_accept_language("da-DK, en;q=0.8"), Some(Lang::Da));
        assert_eq!(
            from_accept_language("de, en;q=0.5, da;q=0.7"),
            Some(Lang::Da)
        );
        assert_eq!(from_accept_language("de, fr"), None);
    }
}
