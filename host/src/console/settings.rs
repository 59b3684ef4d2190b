//! A module's settings form, drawn from its config JSON Schema, for any module (the built-in
//! ones and every uploaded one): each property of the top-level object becomes a field — an
//! `enum` (or a `oneOf` of `const`s, as schemars writes documented enums) a choice, a boolean a
//! checkbox, a string or number a text field, an array of enum values checkboxes, anything else
//! a JSON text area. Titles or property names label the fields, descriptions are their help,
//! defaults fill them in. The config read back from a form is then checked against the schema
//! itself ([`crate::schema::validate`]), so a field shows the schema's own verdict.

use std::collections::BTreeMap;

use maud::{Markup, html};
use serde_json::{Map, Value};

use super::lang::Texts;
use super::session::Form;

/// Form fields are named `cfg.<property>` so they cannot clash with the form's own fields.
const PREFIX: &str = "cfg.";

/// One field of a settings form.
#[derive(Debug, Clone)]
pub struct Field {
    /// The property's name in the config.
    pub name: String,
    /// What the field is called.
    pub label: String,
    /// The property's description.
    pub help: Option<String>,
    /// What kind of control it is.
    pub kind: Kind,
    /// Whether the schema requires it.
    pub required: bool,
    /// Its place in the form.
    pub position: usize,
}

/// A field's control.
#[derive(Debug, Clone)]
pub enum Kind {
    /// One of these values (value, label).
    Choice(Vec<(Value, String)>),
    /// A checkbox.
    Check,
    /// A line of text.
    Text,
    /// A number (`integer`: whole numbers only).
    Number {
        /// Whole numbers only.
        integer: bool,
    },
    /// Any of these values, as checkboxes (value, label).
    Multi(Vec<(Value, String)>),
    /// JSON, for what has no simpler control.
    Json,
}

/// The fields of `schema`; none for a schema without properties (a module without settings,
/// or one whose config is not an object).
pub fn fields(schema: Option<&Value>) -> Vec<Field> {
    let Some(schema) = schema else {
        return Vec::new();
    };
    let root = schema;
    let schema = resolve(root, schema);
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    properties
        .iter()
        .take(100)
        .enumerate()
        .map(|(position, (name, property))| {
            let property = resolve(root, property);
            Field {
                name: name.clone(),
                label: property
                    .get("title")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| humanize(name)),
                // Schemas written from doc comments mark code with backticks; a form shows text.
                help: property
                    .get("description")
                    .and_then(Value::as_str)
                    .map(|d| d.replace('`', "")),
                kind: kind_of(root, property),
                required: required.contains(&name.as_str()),
                position,
            }
        })
        .collect()
}

/// `include_client_contact` → `Include client contact`.
fn humanize(name: &str) -> String {
    let words = name.replace(['_', '-'], " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Follows a local `$ref` (`#/$defs/…`, `#/definitions/…`), a few levels deep, and a lone
/// `allOf` wrapper (as schemars writes a documented reference).
fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..8 {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let Some(pointer) = reference.strip_prefix('#') else {
                return schema;
            };
            match root.pointer(pointer) {
                Some(target) => schema = target,
                None => return schema,
            }
        } else if let Some([only]) = schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            schema = only;
        } else {
            return schema;
        }
    }
    schema
}

/// The values an enum-like schema allows, each with a label: `enum`, or a `oneOf`/`anyOf` of
/// `const`s (labelled by their descriptions).
fn options(root: &Value, schema: &Value) -> Option<Vec<(Value, String)>> {
    let schema = resolve(root, schema);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.iter().map(|v| (v.clone(), label_of(v))).collect());
    }
    let branches = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)?;
    branches
        .iter()
        .map(|branch| {
            let branch = resolve(root, branch);
            let value = branch.get("const").cloned().or_else(|| {
                branch
                    .get("enum")
                    .and_then(Value::as_array)
                    .and_then(|e| (e.len() == 1).then(|| e[0].clone()))
            })?;
            let label = branch
                .get("title")
                .or_else(|| branch.get("description"))
                .and_then(Value::as_str)
                .map(|d| d.trim().trim_end_matches('.').replace('`', ""))
                .filter(|d| !d.is_empty() && d.len() <= 80)
                .unwrap_or_else(|| label_of(&value));
            Some((value, label))
        })
        .collect()
}

fn label_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn kind_of(root: &Value, schema: &Value) -> Kind {
    if let Some(options) = options(root, schema) {
        return Kind::Choice(options);
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let only = |t: &str| types.iter().all(|x| *x == t || *x == "null") && types.contains(&t);
    if only("boolean") {
        Kind::Check
    } else if only("string") {
        Kind::Text
    } else if only("integer") {
        Kind::Number { integer: true }
    } else if only("number") {
        Kind::Number { integer: false }
    } else if only("array") {
        match schema.get("items").and_then(|items| options(root, items)) {
            Some(options) => Kind::Multi(options),
            None => Kind::Json,
        }
    } else {
        Kind::Json
    }
}

/// The values a form starts with: `config` when editing, else the schema's defaults (the
/// object's `default`, then each property's).
pub fn initial(schema: Option<&Value>, config: Option<&Value>) -> Map<String, Value> {
    if let Some(Value::Object(config)) = config {
        return config.clone();
    }
    let mut values = match crate::plugin_config::default_for(schema) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(schema) = schema {
        let root = schema;
        let properties = resolve(root, schema)
            .get("properties")
            .and_then(Value::as_object);
        for (name, property) in properties.into_iter().flatten() {
            if !values.contains_key(name)
                && let Some(default) = resolve(root, property).get("default")
            {
                values.insert(name.clone(), default.clone());
            }
        }
    }
    values
}

/// Problems with fields, by property name; `""` holds those of the whole config.
pub type Problems = BTreeMap<String, Vec<String>>;

/// Reads the config from a posted form: each field by its kind. An empty optional text or
/// number field is left out (the module's default applies). Problems of reading (not a number,
/// not JSON, required) come back by field; the schema's own verdict comes from [`check`].
pub fn read(fields: &[Field], form: &Form, t: &Texts) -> (Map<String, Value>, Problems) {
    let mut config = Map::new();
    let mut problems = Problems::new();
    for field in fields {
        let key = format!("{PREFIX}{}", field.name);
        let raw = form.get(&key).unwrap_or("").trim();
        let mut problem = |text: &str| {
            problems
                .entry(field.name.clone())
                .or_default()
                .push(text.to_owned())
        };
        match &field.kind {
            Kind::Check => {
                config.insert(field.name.clone(), Value::Bool(form.has(&key)));
            }
            Kind::Multi(options) => {
                let chosen = form.all(&key);
                let values: Vec<Value> = options
                    .iter()
                    .filter(|(v, _)| chosen.contains(&option_value(v).as_str()))
                    .map(|(v, _)| v.clone())
                    .collect();
                config.insert(field.name.clone(), Value::Array(values));
            }
            Kind::Choice(options) => {
                if raw.is_empty() {
                    if field.required {
                        problem(t.required);
                    }
                    continue;
                }
                match options.iter().find(|(v, _)| option_value(v) == raw) {
                    Some((value, _)) => {
                        config.insert(field.name.clone(), value.clone());
                    }
                    None => problem(t.required),
                }
            }
            _ if raw.is_empty() => {
                if field.required {
                    problem(t.required);
                }
            }
            Kind::Text => {
                config.insert(field.name.clone(), Value::String(raw.to_owned()));
            }
            Kind::Number { integer: true } => match raw.parse::<i64>() {
                Ok(n) => {
                    config.insert(field.name.clone(), Value::from(n));
                }
                Err(_) => problem(t.not_whole),
            },
            Kind::Number { integer: false } => {
                // A Danish decimal comma is read as a point, but only when it is the one
                // separator: "1.000,5" or "1,000" are too ambiguous to guess.
                let text = if !raw.contains('.') && raw.matches(',').count() == 1 {
                    raw.replace(',', ".")
                } else {
                    raw.to_owned()
                };
                match text
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                {
                    Some(n) => {
                        config.insert(field.name.clone(), Value::Number(n));
                    }
                    None => problem(t.not_a_number),
                }
            }
            Kind::Json => match serde_json::from_str::<Value>(raw) {
                Ok(value) => {
                    config.insert(field.name.clone(), value);
                }
                Err(_) => problem(t.not_json),
            },
        }
    }
    (config, problems)
}

/// Checks `config` against `schema` and files each problem under the field it is about (the
/// first segment of its JSON pointer), or under `""`.
pub async fn check(schema: Option<&Value>, config: &Value, problems: &mut Problems) {
    let Some(schema) = schema.filter(|s| s.is_object()) else {
        return;
    };
    match crate::schema::validate(schema.clone(), config.clone()).await {
        Ok(found) => {
            for problem in found {
                let (field, text) = match problem.strip_prefix('/') {
                    Some(rest) => {
                        let (pointer, text) = rest.split_once(": ").unwrap_or((rest, ""));
                        let field = pointer
                            .split('/')
                            .next()
                            .unwrap_or("")
                            .replace("~1", "/")
                            .replace("~0", "~");
                        (field, text.to_owned())
                    }
                    None => (String::new(), problem),
                };
                problems.entry(field).or_default().push(text);
            }
        }
        Err(e) => problems
            .entry(String::new())
            .or_default()
            .push(e.to_string()),
    }
}

/// The HTML id of a field: `cfg-<name>` when the name is plain (letters, digits, `_`, `-`),
/// else `cfg--<position>` (an id must not hold spaces, and `label for` needs it whole).
pub fn field_id(field: &Field) -> String {
    let plain = !field.name.is_empty()
        && field
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("cfg-{}", field.name)
    } else {
        format!("cfg--{}", field.position)
    }
}

/// How a value is written in a form control.
fn option_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The settings fields, filled with `values`, each with its problems.
pub fn render(
    t: &Texts,
    fields: &[Field],
    values: &Map<String, Value>,
    problems: &Problems,
) -> Markup {
    html! {
        @for field in fields {
            @let id = field_id(field);
            @let help_id = format!("{id}-help");
            @let error_id = format!("{id}-error");
            @let errors = problems.get(&field.name);
            @let described = match (field.help.is_some(), errors.is_some()) {
                (true, true) => format!("{help_id} {error_id}"),
                (true, false) => help_id.clone(),
                (false, true) => error_id.clone(),
                (false, false) => String::new(),
            };
            @let value = values.get(&field.name);
            @let name = format!("{PREFIX}{}", field.name);
            div.field.invalid[errors.is_some()] {
                @match &field.kind {
                    Kind::Check => {
                        label.check {
                            input type="checkbox" id=(id) name=(name) value="on"
                                checked[value == Some(&Value::Bool(true))]
                                aria-describedby=[(!described.is_empty()).then_some(&described)];
                            " " (field.label)
                        }
                    }
                    Kind::Multi(options) => {
                        fieldset aria-describedby=[(!described.is_empty()).then_some(&described)] {
                            legend { (field.label) }
                            @for (i, (option, label)) in options.iter().enumerate() {
                                @let checked = value.and_then(Value::as_array).is_some_and(|a| a.contains(option));
                                label.check for=(format!("{id}-{i}")) {
                                    input type="checkbox" id=(format!("{id}-{i}")) name=(name)
                                        value=(option_value(option)) checked[checked];
                                    " " (label)
                                }
                            }
                        }
                    }
                    Kind::Choice(options) => {
                        label for=(id) { (field.label) }
                        select id=(id) name=(name) required[field.required]
                            aria-invalid=[errors.map(|_| "true")]
                            aria-describedby=[(!described.is_empty()).then_some(&described)] {
                            @if !field.required {
                                option value="" { (t.default_option) }
                            }
                            @for (option, label) in options {
                                option value=(option_value(option)) selected[value == Some(option)] { (label) }
                            }
                        }
                    }
                    Kind::Json => {
                        label for=(id) { (field.label) " (JSON)" }
                        textarea id=(id) name=(name) rows="4" spellcheck="false"
                            aria-invalid=[errors.map(|_| "true")]
                            aria-describedby=[(!described.is_empty()).then_some(&described)] {
                            (value.map(|v| v.to_string()).unwrap_or_default())
                        }
                    }
                    Kind::Text | Kind::Number { .. } => {
                        label for=(id) { (field.label) }
                        input id=(id) name=(name)
                            type="text"
                            inputmode=[matches!(field.kind, Kind::Number { .. }).then_some("decimal")]
                            value=(value.map(option_value).unwrap_or_default())
                            required[field.required]
                            aria-invalid=[errors.map(|_| "true")]
                            aria-describedby=[(!described.is_empty()).then_some(&described)];
                    }
                }
                @if let Some(help) = &field.help {
                    p.help id=(help_id) { (help) }
                }
                @if let Some(errors) = errors {
                    p.error id=(error_id) role="alert" {
                        @for (i, e) in errors.iter().enumerate() {
                            @if i > 0 { " " }
                            (e)
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

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "locale": {"$ref": "#/$defs/Locale", "description": "Language."},
                "include_notes": {"type": "boolean", "default": false},
                "greeting": {"type": "string", "minLength": 2},
                "limit": {"type": "integer", "maximum": 10},
                "columns": {"type": "array", "items": {"enum": ["start", "service"]},
                            "default": ["start"]},
                "extra": {"type": "object"}
            },
            "required": ["greeting"],
            "$defs": {"Locale": {"oneOf": [
                {"const": "da", "description": "Danish."},
                {"const": "en", "description": "English."}]}}
        })
    }

    #[test]
    fn each_kind_of_property_becomes_its_control() {
        let schema = schema();
        let fields = fields(Some(&schema));
        let kind = |name: &str| {
            fields
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.kind.clone())
                .unwrap()
        };
        assert!(
            matches!(kind("locale"), Kind::Choice(o) if o == vec![(json!("da"), "Danish".into()), (json!("en"), "English".into())])
        );
        assert!(matches!(kind("include_notes"), Kind::Check));
        assert!(matches!(kind("greeting"), Kind::Text));
        assert!(matches!(kind("limit"), Kind::Number { integer: true }));
        assert!(matches!(kind("columns"), Kind::Multi(o) if o.len() == 2));
        assert!(matches!(kind("extra"), Kind::Json));
        assert!(
            fields
                .iter()
                .find(|f| f.name == "greeting")
                .unwrap()
                .required
        );
        assert_eq!(
            fields
                .iter()
                .find(|f| f.name == "include_notes")
                .unwrap()
                .label,
            "Include notes"
        );
    }

    #[test]
    fn defaults_fill_a_new_form() {
        let schema = schema();
        let values = initial(Some(&schema), None);
        assert_eq!(values.get("columns"), Some(&json!(["start"])));
        assert_eq!(values.get("include_notes"), Some(&json!(false)));
    }

    #[tokio::test]
    async fn a_form_reads_back_as_config_and_the_schema_marks_the_field_at_fault() {
        let schema = schema();
        let fields = fields(Some(&schema));
        let form = Form::parse(
            b"cfg.locale=en&cfg.greeting=h&cfg.limit=12&cfg.columns=service&cfg.include_notes=on",
        );
        let t = &super::super::lang::EN;
        let (config, mut problems) = read(&fields, &form, t);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            Value::Object(config.clone()),
            json!({"locale": "en", "greeting": "h", "limit": 12, "columns": ["service"],
                   "include_notes": true})
        );
        check(Some(&schema), &Value::Object(config), &mut problems).await;
        assert!(problems.contains_key("greeting"), "{problems:?}");
        assert!(problems.contains_key("limit"), "{problems:?}");
    }

    #[test]
    fn a_word_where_a_number_belongs_is_a_problem_of_that_field() {
        let schema = schema();
        let fields = fields(Some(&schema));
        let form = Form::parse(b"cfg.limit=ten&cfg.greeting=hello");
        let (_, problems) = read(&fields, &form, &super::super::lang::DA);
        assert_eq!(
            problems.get("limit"),
            Some(&vec![super::super::lang::DA.not_whole.to_owned()])
        );
    }
}
