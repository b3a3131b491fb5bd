//! The part of Kubernetes JSONPath that printer columns use: `.a.b`, `['a.b']`, `a\.b`, `[0]`,
//! `[-1]`, `[*]`, `.*` and filters `[?(@.type=="Ready")]` (`==`, `!=`, `<`, `<=`, `>`, `>=`, or
//! a bare `@.x` for "exists"), with or without the `{...}` braces kubectl templates have.
//! Evaluation yields every match in document order; a printer column takes the first.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    Wildcard,
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    path: Vec<Step>,
    /// `None`: the path exists (and is not false/null).
    compare: Option<(String, Value)>,
}

/// A parsed path; [`JsonPath::parse`] refuses what it does not understand.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath(Vec<Step>);

impl JsonPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let text = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text)
            .trim();
        let text = text.strip_prefix('$').unwrap_or(text);
        let mut parser = Parser {
            chars: text.chars().collect(),
            at: 0,
        };
        let steps = parser.steps(false)?;
        if parser.at < parser.chars.len() {
            return Err(format!("unexpected text at {}: {text}", parser.at));
        }
        Ok(Self(steps))
    }

    /// Every value the path reaches, in document order.
    pub fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        walk(&self.0, vec![root])
    }
}

fn walk<'a>(steps: &[Step], mut current: Vec<&'a Value>) -> Vec<&'a Value> {
    for step in steps {
        let mut next = Vec::new();
        for value in current {
            match step {
                Step::Field(name) => {
                    if let Some(found) = value.get(name.as_str()) {
                        next.push(found);
                    }
                }
                Step::Index(index) => {
                    if let Some(items) = value.as_array() {
                        let len = items.len() as i64;
                        let at = if *index < 0 { len + index } else { *index };
                        if (0..len).contains(&at)
                            && let Some(found) = usize::try_from(at).ok().and_then(|i| items.get(i))
                        {
                            next.push(found);
                        }
                    }
                }
                Step::Wildcard => match value {
                    Value::Array(items) => next.extend(items.iter()),
                    Value::Object(fields) => next.extend(fields.values()),
                    _ => {}
                },
                Step::Filter(filter) => {
                    if let Value::Array(items) = value {
                        next.extend(items.iter().filter(|item| filter.accepts(item)));
                    }
                }
            }
        }
        current = next;
    }
    current
}

impl Filter {
    fn accepts(&self, item: &Value) -> bool {
        let found = walk(&self.path, vec![item]);
        let Some(&actual) = found.first() else {
            return false;
        };
        let Some((op, expected)) = &self.compare else {
            return !matches!(actual, Value::Null | Value::Bool(false));
        };
        let ordering = match (actual, expected) {
            (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            (a, b) if a == b => Some(std::cmp::Ordering::Equal),
            _ => None,
        };
        match op.as_str() {
            "==" => ordering == Some(std::cmp::Ordering::Equal),
            "!=" => ordering != Some(std::cmp::Ordering::Equal),
            "<" => ordering == Some(std::cmp::Ordering::Less),
            "<=" => matches!(
                ordering,
                Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
            ),
            ">" => ordering == Some(std::cmp::Ordering::Greater),
            ">=" => matches!(
                ordering,
                Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
            ),
            _ => false,
        }
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Steps until the end of the text (or, inside a filter, until an operator or `)`).
    fn steps(&mut self, in_filter: bool) -> Result<Vec<Step>, String> {
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                None => break,
                Some('.') => {
                    self.at += 1;
                    if self.eat('*') {
                        steps.push(Step::Wildcard);
                    } else if self.peek() == Some('[') {
                        // `.[0]`: the dot is redundant.
                    } else {
                        steps.push(Step::Field(self.name()?));
                    }
                }
                Some('[') => {
                    self.at += 1;
                    steps.push(self.bracket()?);
                }
                Some(c) if steps.is_empty() && !in_filter && c != ' ' => {
                    // `status.phase` without the leading dot.
                    steps.push(Step::Field(self.name()?));
                }
                Some(_) if in_filter => break,
                Some(c) => return Err(format!("unexpected {c:?}")),
            }
        }
        Ok(steps)
    }

    /// A field name after a dot: up to the next unescaped `.` or `[` (or filter operator).
    fn name(&mut self) -> Result<String, String> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            match c {
                '\\' => {
                    self.at += 1;
                    if let Some(escaped) = self.peek() {
                        name.push(escaped);
                        self.at += 1;
                    }
                }
                '.' | '[' | ' ' | '=' | '!' | '<' | '>' | ')' => break,
                c => {
                    name.push(c);
                    self.at += 1;
                }
            }
        }
        if name.is_empty() {
            Err("empty field name".into())
        } else {
            Ok(name)
        }
    }

    fn bracket(&mut self) -> Result<Step, String> {
        let step = match self.peek() {
            Some('\'' | '"') => Step::Field(self.quoted()?),
            Some('*') => {
                self.at += 1;
                Step::Wildcard
            }
            Some('?') => {
                self.at += 1;
                if !self.eat('(') || !self.eat('@') {
                    return Err("a filter starts with ?(@".into());
                }
                let path = self.steps(true)?;
                self.skip_spaces();
                let compare = if self.peek() == Some(')') {
                    None
                } else {
                    let op = self.operator()?;
                    self.skip_spaces();
                    Some((op, self.literal()?))
                };
                self.skip_spaces();
                if !self.eat(')') {
                    return Err("unclosed filter".into());
                }
                Step::Filter(Filter { path, compare })
            }
            _ => {
                let start = self.at;
                while self.peek().is_some_and(|c| c != ']') {
                    self.at += 1;
                }
                let text: String = self.chars[start..self.at].iter().collect();
                Step::Index(
                    text.trim()
                        .parse()
                        .map_err(|_| format!("unsupported subscript [{text}]"))?,
                )
            }
        };
        if !self.eat(']') {
            return Err("unclosed [".into());
        }
        Ok(step)
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.at += 1;
        }
    }

    fn operator(&mut self) -> Result<String, String> {
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            let len = op.len();
            let ahead: String = self.chars[self.at..(self.at + len).min(self.chars.len())]
                .iter()
                .collect();
            if ahead == op {
                self.at += len;
                return Ok(op.to_string());
            }
        }
        Err("unsupported filter operator".into())
    }

    fn quoted(&mut self) -> Result<String, String> {
        let quote = self.peek().ok_or("missing quote")?;
        self.at += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err("unclosed quote".into()),
                Some('\\') => {
                    self.at += 1;
                    if let Some(c) = self.peek() {
                        text.push(c);
                        self.at += 1;
                    }
                }
                Some(c) if c == quote => {
                    self.at += 1;
                    return Ok(text);
                }
                Some(c) => {
                    text.push(c);
                    self.at += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Result<Value, String> {
        if matches!(self.peek(), Some('\'' | '"')) {
            return self.quoted().map(Value::String);
        }
        let start = self.at;
        while self.peek().is_some_and(|c| c != ')' && c != ' ') {
            self.at += 1;
        }
        let text: String = self.chars[start..self.at].iter().collect();
        match text.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            "null" => Ok(Value::Null),
            number => serde_json::from_str::<serde_json::Number>(number)
                .map(Value::Number)
                .map_err(|_| format!("unsupported filter value {number}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn first(path: &str, object: &Value) -> Option<Value> {
        JsonPath::parse(path)
            .unwrap()
            .find(object)
            .first()
            .map(|v| (*v).clone())
    }

    #[test]
    fn fields_indexes_and_filters() {
        let object = json!({
            "metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "x"}},
            "spec": {"names": ["n0", "n1"]},
            "status": {"conditions": [
                {"type": "Drifted", "status": "False"},
                {"type": "Ready", "status": "True", "observedGeneration": 3},
            ]},
        });
        assert_eq!(first(".metadata.name", &object), Some(json!("a")));
        assert_eq!(first("{.metadata.name}", &object), Some(json!("a")));
        assert_eq!(first(".spec.names[1]", &object), Some(json!("n1")));
        assert_eq!(first(".spec.names[-1]", &object), Some(json!("n1")));
        assert_eq!(first(".spec.names[*]", &object), Some(json!("n0")));
        assert_eq!(
            first(r#".status.conditions[?(@.type=="Ready")].status"#, &object),
            Some(json!("True"))
        );
        assert_eq!(
            first(
                r#".status.conditions[?(@.type == 'Drifted')].status"#,
                &object
            ),
            Some(json!("False"))
        );
        assert_eq!(
            first(
                ".status.conditions[?(@.observedGeneration>2)].type",
                &object
            ),
            Some(json!("Ready"))
        );
        assert_eq!(
            first(".metadata.labels['app.kubernetes.io/name']", &object),
            Some(json!("x"))
        );
        assert_eq!(
            first(r".metadata.labels.app\.kubernetes\.io/name", &object),
            Some(json!("x"))
        );
        assert_eq!(
            first(r#".status.conditions[?(@.type=="Gone")].status"#, &object),
            None
        );
        assert_eq!(first(".status.missing.deeper", &object), None);
        assert!(JsonPath::parse(".a[?(@.b ~ 1)]").is_err());
    }
}
