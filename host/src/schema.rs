//! Config schemas that tenants supply (a module's `config_schema`): vetted once when the module
//! is uploaded, and every validation against one bounded in time and work, off the async
//! threads.
//!
//! A JSON Schema is a program, and a hostile one can be made to run forever or to exhaust
//! memory: a `$ref` cycle (`{"allOf": [{"$ref": "#"}]}`) makes the validator recurse without
//! end, `$defs` that each refer to the next several times ("billion laughs") expand
//! exponentially, and a backtracking `pattern` takes seconds per string. So a schema is
//! refused at upload unless its references are local, acyclic and expand to a bounded size,
//! and patterns run on the linear-time `regex` engine (which refuses look-around and
//! back-references at compile time).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use serde_json::Value;

/// The largest config schema accepted, as JSON text.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// The deepest nesting of a schema's JSON.
pub const MAX_DEPTH: usize = 64;

/// The most schema nodes a validator may have once every `$ref` is expanded in place.
pub const MAX_EXPANDED_NODES: usize = 100_000;

/// How long one validation (or building a validator) may take before it is given up.
pub const MAX_VALIDATION_TIME: Duration = Duration::from_secs(1);

/// Validations that may run at once, so a flood of them cannot take every blocking thread.
const CONCURRENT_VALIDATIONS: usize = 4;

/// The size limit of a compiled `pattern` (the `regex` crate's own default is 10 MB).
const PATTERN_BYTES: usize = 1 << 20;

/// Checks a schema's shape before anything compiles it: size, depth, and that its references
/// are local JSON pointers without cycles whose expansion stays under
/// [`MAX_EXPANDED_NODES`]. The error says what to change.
pub fn vet(schema: &Value) -> Result<(), String> {
    let size = serde_json::to_string(schema).map_or(usize::MAX, |text| text.len());
    if size > MAX_SCHEMA_BYTES {
        return Err(format!(
            "the config schema is {size} bytes; the limit is {MAX_SCHEMA_BYTES}"
        ));
    }
    let mut refs = Vec::new();
    collect(schema, String::new(), 0, &mut refs)?;
    let mut expansion = Expansion {
        schema,
        refs: &refs,
        sizes: HashMap::new(),
        in_progress: Vec::new(),
    };
    let total = expansion.size("")?;
    if total > MAX_EXPANDED_NODES {
        return Err(format!(
            "the config schema expands to {total} nodes once its $refs are followed; the limit \
             is {MAX_EXPANDED_NODES} (refer to fewer or smaller definitions)"
        ));
    }
    Ok(())
}

/// A `$ref` found at `at` (a JSON pointer to the object holding it) naming `target`.
struct Reference {
    at: String,
    target: String,
}

/// Walks the schema, checking depth and the kinds of reference, and collects the `$ref`s.
fn collect(
    value: &Value,
    at: String,
    depth: usize,
    refs: &mut Vec<Reference>,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "the config schema nests deeper than {MAX_DEPTH} levels"
        ));
    }
    match value {
        Value::Object(map) => {
            for keyword in ["$dynamicRef", "$recursiveRef"] {
                if map.contains_key(keyword) {
                    return Err(format!(
                        "the config schema uses {keyword} at {:?}; krog accepts only local \
                         \"$ref\": \"#/...\" references",
                        pointer_text(&at)
                    ));
                }
            }
            if let Some(reference) = map.get("$ref") {
                let target = match reference.as_str() {
                    Some(r) if r == "#" || r.starts_with("#/") => r[1..].to_owned(),
                    _ => {
                        return Err(format!(
                            "the config schema's $ref {reference} at {:?} is not a local JSON \
                             pointer; krog accepts only references like \"#/$defs/name\"",
                            pointer_text(&at)
                        ));
                    }
                };
                refs.push(Reference {
                    at: at.clone(),
                    target,
                });
            }
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                collect(child, format!("{at}/{escaped}"), depth + 1, refs)?;
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect(child, format!("{at}/{i}"), depth + 1, refs)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn pointer_text(at: &str) -> String {
    format!("#{at}")
}

/// The size of each subschema with its references expanded, memoised per pointer; a pointer
/// met again while it is being expanded is a cycle.
struct Expansion<'a> {
    schema: &'a Value,
    refs: &'a [Reference],
    sizes: HashMap<String, usize>,
    in_progress: Vec<String>,
}

impl Expansion<'_> {
    fn size(&mut self, pointer: &str) -> Result<usize, String> {
        if let Some(size) = self.sizes.get(pointer) {
            return Ok(*size);
        }
        if self.in_progress.iter().any(|p| p == pointer) {
            return Err(format!(
                "the config schema's $refs form a cycle through {:?}; a schema that refers to \
                 itself cannot be validated in bounded time",
                pointer_text(pointer)
            ));
        }
        let node = self.schema.pointer(pointer).ok_or_else(|| {
            format!(
                "the config schema's $ref {:?} points at nothing",
                pointer_text(pointer)
            )
        })?;
        self.in_progress.push(pointer.to_owned());
        let mut total = nodes(node);
        let inside: Vec<String> = self
            .refs
            .iter()
            .filter(|r| within(&r.at, pointer))
            .map(|r| r.target.clone())
            .collect();
        for target in inside {
            total = total.saturating_add(self.size(&target)?);
            if total > MAX_EXPANDED_NODES {
                break;
            }
        }
        self.in_progress.pop();
        self.sizes.insert(pointer.to_owned(), total);
        Ok(total)
    }
}

/// Whether the pointer `at` is `pointer` itself or lies inside it.
fn within(at: &str, pointer: &str) -> bool {
    at == pointer || (at.starts_with(pointer) && at.as_bytes().get(pointer.len()) == Some(&b'/'))
}

fn nodes(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(nodes).sum::<usize>(),
        Value::Array(items) => 1 + items.iter().map(nodes).sum::<usize>(),
        _ => 1,
    }
}

/// Why a config could not be checked against a schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The schema itself is refused (see [`vet`]) or does not compile.
    #[error("the module's config schema is not usable: {0}")]
    Unusable(String),
    /// Validation ran past [`MAX_VALIDATION_TIME`].
    #[error(
        "checking the config against the module's schema took longer than {} ms; the schema is \
         too costly to evaluate",
        MAX_VALIDATION_TIME.as_millis()
    )]
    TooSlow,
}

static VALIDATIONS: LazyLock<Arc<tokio::sync::Semaphore>> =
    LazyLock::new(|| Arc::new(tokio::sync::Semaphore::new(CONCURRENT_VALIDATIONS)));

/// Vets `schema`, compiles it and validates `config` against it on a blocking thread, within
/// [`MAX_VALIDATION_TIME`]. `Ok` holds the problems found (empty: the config fits).
pub async fn validate(schema: Value, config: Value) -> Result<Vec<String>, SchemaError> {
    vet(&schema).map_err(SchemaError::Unusable)?;
    let _turn = VALIDATIONS
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    let work = tokio::task::spawn_blocking(move || validate_now(&schema, &config));
    match tokio::time::timeout(MAX_VALIDATION_TIME, work).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(SchemaError::Unusable(
            "the validator failed while checking the config".into(),
        )),
        Err(_) => Err(SchemaError::TooSlow),
    }
}

/// The blocking part of [`validate`], for an already vetted schema.
fn validate_now(schema: &Value, config: &Value) -> Result<Vec<String>, SchemaError> {
    let validator = jsonschema::options()
        .with_pattern_options(
            jsonschema::PatternOptions::regex()
                .size_limit(PATTERN_BYTES)
                .dfa_size_limit(PATTERN_BYTES),
        )
        .build(schema)
        .map_err(|e| SchemaError::Unusable(e.to_string()))?;
    Ok(validator
        .iter_errors(config)
        .take(20)
        .map(|e| {
            let at = e.instance_path.to_string();
            let what = describe(&e);
            if at.is_empty() {
                what
            } else {
                format!("{at}: {what}")
            }
        })
        .collect())
}

/// The validator's words for an error, except where they hide the fix: a value that is none of
/// a `oneOf`/`anyOf` of constants (as schemars writes an enum whose variants have doc
/// comments) is told the values allowed, not "not valid under any of the schemas listed".
fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind as Kind;
    if let Kind::OneOfNotValid { context } | Kind::AnyOf { context } = &error.kind {
        let allowed: Option<Vec<String>> = context
            .iter()
            .map(|branch| match branch.as_slice() {
                [only] => match &only.kind {
                    Kind::Constant { expected_value } => Some(expected_value.to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        if let Some(allowed) = allowed.filter(|a| !a.is_empty()) {
            return format!("{} is not one of {}", error.instance, allowed.join(", "));
        }
    }
    error.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_outside_a_oneof_of_constants_is_told_the_values_allowed() {
        let schema = json!({
            "type": "object",
            "properties": {"columns": {"type": "array", "items": {"$ref": "#/$defs/Column"}}},
            "$defs": {"Column": {"oneOf": [
                {"description": "The start.", "type": "string", "const": "start"},
                {"description": "The end.", "type": "string", "const": "end"}
            ]}}
        });
        let problems = validate_now(&schema, &json!({"columns": ["start", "colour"]})).unwrap();
        assert_eq!(
            problems,
            [r#"/columns/1: "colour" is not one of "start", "end""#]
        );
    }

    #[test]
    fn a_schema_that_refers_to_itself_is_refused() {
        for schema in [
            json!({"allOf": [{"$ref": "#"}]}),
            json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}),
            json!({"properties": {"x": {"items": {"$ref": "#/properties/x"}}}}),
        ] {
            let why = vet(&schema).unwrap_err();
            assert!(why.contains("cycle"), "{why}");
        }
    }

    #[test]
    fn definitions_that_multiply_are_refused() {
        let mut defs = serde_json::Map::new();
        defs.insert("d0".into(), json!({"type": "string"}));
        for i in 1..30 {
            let prev = format!("#/$defs/d{}", i - 1);
            defs.insert(
                format!("d{i}"),
                json!({"allOf": [{"$ref": prev}, {"$ref": prev}]}),
            );
        }
        let schema = json!({"$defs": defs, "$ref": "#/$defs/d29"});
        let why = vet(&schema).unwrap_err();
        assert!(why.contains("expands"), "{why}");
    }

    #[test]
    fn remote_and_dynamic_references_are_refused() {
        assert!(vet(&json!({"$ref": "https://example.com/s.json"})).is_err());
        assert!(vet(&json!({"$ref": "other.json#/x"})).is_err());
        assert!(vet(&json!({"$dynamicRef": "#meta"})).is_err());
    }

    #[test]
    fn ordinary_schemas_with_shared_definitions_pass() {
        let schema = json!({
            "type": "object",
            "$defs": {"locale": {"enum": ["da", "en"]}},
            "properties": {
                "locale": {"$ref": "#/$defs/locale"},
                "fallback": {"$ref": "#/$defs/locale"},
                "channel": {"type": "string", "pattern": "^#[a-z0-9-]+$"}
            }
        });
        vet(&schema).unwrap();
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut schema = json!({"type": "string"});
        for _ in 0..100 {
            schema = json!({"items": schema});
        }
        assert!(vet(&schema).unwrap_err().contains("deeper"));
    }

    #[tokio::test]
    async fn a_backtracking_pattern_is_checked_in_linear_time() {
        let schema = json!({"properties": {"x": {"type": "string", "pattern": "^(a+)+$"}}});
        let config = json!({"x": format!("{}!", "a".repeat(100_000))});
        let started = std::time::Instant::now();
        let problems = validate(schema, config).await.unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        // Linear: microseconds of work. The bound is wide for a busy machine; the
        // backtracking engine took seconds on a string a thousand times shorter.
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_pattern_the_linear_engine_cannot_run_makes_the_schema_unusable() {
        let schema = json!({"properties": {"x": {"type": "string", "pattern": "^(?=a)a$"}}});
        let err = validate(schema, json!({"x": "a"})).await.unwrap_err();
        assert!(matches!(err, SchemaError::Unusable(_)), "{err}");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};
    use serde_json::json;

    fn config() -> Config {
        Config {
            cases: 128,
            rng_seed: RngSeed::Fixed(0x7363_6865),
            failure_persistence: None,
            ..Config::default()
        }
    }

    /// Schema-shaped JSON: keywords, references (good, bad and cyclic) and patterns.
    fn schema() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(json!({"type": "string"})),
            Just(json!({"type": "integer", "minimum": 0})),
            Just(json!({"$ref": "#"})),
            Just(json!({"$ref": "#/$defs/a"})),
            Just(json!({"$ref": "#/properties/x"})),
            Just(json!({"$ref": "https://example.com/x"})),
            "[a-z()+*|?.^$]{0,10}".prop_map(|p| json!({"type": "string", "pattern": p})),
            Just(json!({"enum": ["da", "en"]})),
            Just(json!(true)),
        ];
        leaf.prop_recursive(4, 40, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(|v| json!({"allOf": v})),
                prop::collection::vec(inner.clone(), 1..4).prop_map(|v| json!({"anyOf": v})),
                (inner.clone(), inner.clone())
                    .prop_map(|(x, a)| json!({"properties": {"x": x}, "$defs": {"a": a}})),
                inner.prop_map(|i| json!({"type": "array", "items": i})),
            ]
        })
    }

    fn config_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!({})),
            ".{0,40}".prop_map(|s| json!({"x": s})),
            any::<i64>().prop_map(|n| json!({"x": n})),
            Just(json!({"x": ["a", "b"]})),
        ]
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn a_vetted_schema_checks_any_config_in_bounded_time(schema in schema(), value in config_value()) {
            if vet(&schema).is_ok() {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let result = runtime.block_on(validate(schema.clone(), value));
                prop_assert!(!matches!(result, Err(SchemaError::TooSlow)), "{schema}");
            }
        }

        #[test]
        fn a_schema_vetting_accepts_has_no_reference_cycle(schema in schema()) {
            if vet(&schema).is_ok() {
                // Expanding every reference in place terminates.
                fn expand(root: &Value, node: &Value, depth: usize) -> bool {
                    if depth > 64 { return false; }
                    match node {
                        Value::Object(map) => {
                            if let Some(Value::String(r)) = map.get("$ref") {
                                match root.pointer(&r[1..]) {
                                    Some(target) if !expand(root, target, depth + 1) => return false,
                                    _ => {}
                                }
                            }
                            map.values().all(|v| expand(root, v, depth + 1))
                        }
                        Value::Array(items) => items.iter().all(|v| expand(root, v, depth + 1)),
                        _ => true,
                    }
                }
                prop_assert!(expand(&schema, &schema, 0), "{schema}");
            }
        }
    }
}
