//! A dry run's outcome ([`crate::dry_run::dry_run_json`]) as a person reads it: a Slack message
//! as its header, text and fields; a spreadsheet row as a table; anything else as the body
//! sent. A skip says why, a failure says the module's message.

use maud::{Markup, html};
use serde_json::Value;

use super::lang::Texts;

/// The preview of `outcome` for a subscription through `module` (`None`: no transform).
pub fn render(t: &Texts, module: Option<&str>, config: &Value, outcome: &Value) -> Markup {
    let body = outcome.get("body").and_then(Value::as_str);
    html! {
        section.preview aria-labelledby="preview-title" {
            h2 #preview-title { (t.preview_title) }
            @match outcome.get("outcome").and_then(Value::as_str) {
                Some("skip") => {
                    p { (t.preview_skipped) " " (outcome.get("reason").and_then(Value::as_str).unwrap_or("")) }
                }
                Some("error") => {
                    p.error role="alert" {
                        (t.preview_failed) " "
                        (outcome.pointer("/error/message").and_then(Value::as_str).unwrap_or(""))
                    }
                }
                _ => {
                    @let parsed = body.and_then(|b| serde_json::from_str::<Value>(b).ok());
                    @match (module, &parsed) {
                        (Some("slack"), Some(message)) => (slack(message)),
                        (Some("sheets"), Some(rows)) => (sheet(config, rows)),
                        _ => {}
                    }
                    details open[!matches!(module, Some("slack") | Some("sheets"))] {
                        summary { (t.preview_body) }
                        pre.body { (parsed.as_ref().and_then(|v| serde_json::to_string_pretty(v).ok()).or(body.map(str::to_owned)).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

/// A Slack message (Block Kit): the header, sections' text and fields, context lines; the
/// fallback `text` when there are no blocks.
fn slack(message: &Value) -> Markup {
    let blocks = message
        .get("blocks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    html! {
        div.slack role="group" aria-label="Slack" {
            @if blocks.is_empty() {
                p { (mrkdwn(message.get("text").and_then(Value::as_str).unwrap_or(""))) }
            }
            @for block in &blocks {
                @match block.get("type").and_then(Value::as_str) {
                    Some("header") => {
                        p.slack-header { (block.pointer("/text/text").and_then(Value::as_str).unwrap_or("")) }
                    }
                    Some("section") => {
                        @if let Some(text) = block.pointer("/text/text").and_then(Value::as_str) {
                            p { (mrkdwn(text)) }
                        }
                        @if let Some(fields) = block.get("fields").and_then(Value::as_array) {
                            div.slack-fields {
                                @for field in fields {
                                    p { (mrkdwn(field.get("text").and_then(Value::as_str).unwrap_or(""))) }
                                }
                            }
                        }
                    }
                    Some("context") => {
                        p.slack-context {
                            @for element in block.get("elements").and_then(Value::as_array).into_iter().flatten() {
                                (mrkdwn(element.get("text").and_then(Value::as_str).unwrap_or(""))) " "
                            }
                        }
                    }
                    Some("divider") => { hr; }
                    _ => {}
                }
            }
        }
    }
}

/// Slack `mrkdwn` as text: `*bold*` bold, line breaks kept, `<url|label>` as its label, and
/// Slack's escapes (`&amp;`, `&lt;`, `&gt;`) undone (maud escapes the text again for HTML).
fn mrkdwn(text: &str) -> Markup {
    let text = links(text)
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    html! {
        @for (l, line) in text.split('\n').enumerate() {
            @if l > 0 { br; }
            @for (i, piece) in line.split('*').enumerate() {
                @if i % 2 == 1 { strong { (piece) } } @else { (piece) }
            }
        }
    }
}

/// `<https://x|label>` → `label`, `<https://x>` → `https://x`.
fn links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        match rest[start..].find('>') {
            Some(end) => {
                let inner = &rest[start + 1..start + end];
                out.push_str(inner.split_once('|').map_or(inner, |(_, label)| label));
                rest = &rest[start + end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `{"values": [[…]]}` as a table, headed by the configured columns when the config names them.
fn sheet(config: &Value, rows: &Value) -> Markup {
    let columns: Vec<String> = config
        .get("columns")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .map(|v| v.as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    let rows = rows
        .get("values")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    html! {
        div.table-scroll {
            table.sheet {
                @if !columns.is_empty() {
                    thead { tr { @for c in &columns { th scope="col" { (c) } } } }
                }
                tbody {
                    @for row in &rows {
                        tr {
                            @for cell in row.as_array().into_iter().flatten() {
                                td { (match cell { Value::String(s) => s.clone(), other => other.to_string() }) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_slack_message_reads_as_text_with_its_bold_and_links() {
        let message = json!({"blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Ny booking"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Klient*\nJens &amp; <https://x.dk|Ole>"}}
        ]});
        let html = slack(&message).into_string();
        assert!(html.contains("Ny booking"), "{html}");
        assert!(
            html.contains("<strong>Klient</strong><br>Jens &amp; Ole"),
            "{html}"
        );
    }

    #[test]
    fn a_row_is_a_table_headed_by_the_columns() {
        let html = sheet(
            &json!({"columns": ["start", "service"]}),
            &json!({"values": [["2026-12-03", "Massage"]]}),
        )
        .into_string();
        assert!(html.contains("<th scope=\"col\">start</th>"), "{html}");
        assert!(html.contains("<td>Massage</td>"), "{html}");
    }
}
