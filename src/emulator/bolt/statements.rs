//! The few Cypher statements the emulator understands: `RETURN <integer>`, `SHOW USERS` and the
//! user administration that password rotation needs. Everything else is a syntax error, as an
//! unknown statement would be for Neo4j.

use std::collections::BTreeMap;

use super::packstream::Value;

/// A recognised statement. Passwords are resolved from literals or `$parameters`.
#[derive(Clone, PartialEq)]
pub enum Statement {
    Return {
        column: String,
        value: i64,
    },
    ShowUsers,
    AlterCurrentUser {
        old: String,
        new: String,
    },
    CreateUser {
        user: String,
        password: String,
        if_not_exists: bool,
    },
    AlterUser {
        user: String,
        password: String,
    },
    DropUser {
        user: String,
        if_exists: bool,
    },
}

impl Statement {
    /// User administration runs against the `system` database only, as in Neo4j.
    pub fn is_administration(&self) -> bool {
        !matches!(self, Self::Return { .. })
    }
}

/// A statement the emulator cannot run, with Neo4j's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementError {
    pub code: &'static str,
    pub message: String,
}

const SYNTAX: &str = "Neo.ClientError.Statement.SyntaxError";
const MISSING_PARAMETER: &str = "Neo.ClientError.Statement.ParameterMissing";

fn syntax(message: impl Into<String>) -> StatementError {
    StatementError {
        code: SYNTAX,
        message: message.into(),
    }
}

/// Splits a statement into words, keeping quoted strings and backticked names whole.
fn tokens(query: &str) -> Result<Vec<String>, StatementError> {
    let mut out = Vec::new();
    let mut chars = query.trim().trim_end_matches(';').chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if matches!(c, '\'' | '"' | '`') {
            chars.next();
            let mut word = String::from(c);
            loop {
                match chars.next() {
                    Some(q) if q == c => break,
                    Some(other) => word.push(other),
                    None => return Err(syntax("a quoted string is not closed")),
                }
            }
            out.push(word);
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            word.push(c);
            chars.next();
        }
        out.push(word);
    }
    Ok(out)
}

/// Reads words and checks keywords; every statement is a fixed sequence of them.
struct Words<'a> {
    words: std::slice::Iter<'a, String>,
    params: &'a BTreeMap<String, Value>,
}

impl Words<'_> {
    fn keyword(&mut self, expected: &str) -> Result<(), StatementError> {
        match self.words.next() {
            Some(w) if w.eq_ignore_ascii_case(expected) => Ok(()),
            Some(w) => Err(syntax(format!("expected {expected}, found {w}"))),
            None => Err(syntax(format!("expected {expected} at the end"))),
        }
    }

    /// Consumes the keywords if they come next.
    fn optional(&mut self, expected: &[&str]) -> bool {
        let mut ahead = self.words.clone();
        let found = expected
            .iter()
            .all(|k| ahead.next().is_some_and(|w| w.eq_ignore_ascii_case(k)));
        if found {
            self.words = ahead;
        }
        found
    }

    fn name(&mut self) -> Result<String, StatementError> {
        let word = self
            .words
            .next()
            .ok_or_else(|| syntax("a user name is missing"))?;
        Ok(word.strip_prefix('`').unwrap_or(word).to_string())
    }

    /// A string literal or a `$parameter` holding a string.
    fn password(&mut self) -> Result<String, StatementError> {
        let word = self
            .words
            .next()
            .ok_or_else(|| syntax("a password is missing"))?;
        if let Some(name) = word.strip_prefix('$') {
            return match self.params.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(syntax(format!("parameter ${name} must be a string"))),
                None => Err(StatementError {
                    code: MISSING_PARAMETER,
                    message: format!("Expected parameter(s): {name}"),
                }),
            };
        }
        word.strip_prefix(['\'', '"'])
            .map(str::to_string)
            .ok_or_else(|| syntax("a password must be a string literal or a parameter"))
    }

    fn end(&mut self) -> Result<(), StatementError> {
        self.optional(&["CHANGE", "NOT", "REQUIRED"]);
        match self.words.next() {
            None => Ok(()),
            Some(w) => Err(syntax(format!("unexpected {w}"))),
        }
    }
}

/// Parses `query` with its parameters.
pub fn parse(query: &str, params: &BTreeMap<String, Value>) -> Result<Statement, StatementError> {
    let all = tokens(query)?;
    let mut w = Words {
        words: all.iter(),
        params,
    };
    let statement = if w.optional(&["RETURN"]) {
        return_integer(&mut w)?
    } else if w.optional(&["SHOW", "USERS"]) {
        Statement::ShowUsers
    } else if w.optional(&["ALTER", "CURRENT", "USER", "SET", "PASSWORD", "FROM"]) {
        let old = w.password()?;
        w.keyword("TO")?;
        let new = w.password()?;
        Statement::AlterCurrentUser { old, new }
    } else if w.optional(&["CREATE", "USER"]) {
        let user = w.name()?;
        let if_not_exists = w.optional(&["IF", "NOT", "EXISTS"]);
        w.keyword("SET")?;
        w.optional(&["PLAINTEXT"]);
        w.keyword("PASSWORD")?;
        let password = w.password()?;
        Statement::CreateUser {
            user,
            password,
            if_not_exists,
        }
    } else if w.optional(&["ALTER", "USER"]) {
        let user = w.name()?;
        w.keyword("SET")?;
        w.optional(&["PLAINTEXT"]);
        w.keyword("PASSWORD")?;
        let password = w.password()?;
        Statement::AlterUser { user, password }
    } else if w.optional(&["DROP", "USER"]) {
        let user = w.name()?;
        let if_exists = w.optional(&["IF", "EXISTS"]);
        Statement::DropUser { user, if_exists }
    } else {
        return Err(syntax(format!(
            "the emulator does not run: {}",
            first_word(&all)
        )));
    };
    w.end()?;
    Ok(statement)
}

fn first_word(words: &[String]) -> &str {
    words
        .first()
        .map(String::as_str)
        .unwrap_or("an empty statement")
}

fn return_integer(w: &mut Words<'_>) -> Result<Statement, StatementError> {
    let word = w
        .words
        .next()
        .ok_or_else(|| syntax("RETURN needs a value"))?;
    let value: i64 = word
        .parse()
        .map_err(|_| syntax("the emulator only returns integer literals"))?;
    let column = if w.optional(&["AS"]) {
        w.name()?
    } else {
        word.clone()
    };
    Ok(Statement::Return { column, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect()
    }

    #[test]
    fn return_with_and_without_alias() {
        let none = BTreeMap::new();
        assert!(matches!(
            parse("RETURN 1", &none),
            Ok(Statement::Return { value: 1, ref column }) if column == "1"
        ));
        assert!(matches!(
            parse("return 42 AS answer;", &none),
            Ok(Statement::Return { value: 42, ref column }) if column == "answer"
        ));
    }

    #[test]
    fn alter_current_user_reads_parameters() {
        let p = params(&[("old", "before-123"), ("new", "after-4567")]);
        let parsed = parse("ALTER CURRENT USER SET PASSWORD FROM $old TO $new", &p);
        assert!(
            parsed
                == Ok(Statement::AlterCurrentUser {
                    old: "before-123".into(),
                    new: "after-4567".into()
                })
        );
    }

    #[test]
    fn create_alter_and_drop_user() {
        let p = params(&[("pw", "secret-pw-1")]);
        let create = parse(
            "CREATE USER app_a IF NOT EXISTS SET PLAINTEXT PASSWORD $pw CHANGE NOT REQUIRED",
            &p,
        );
        assert!(
            create
                == Ok(Statement::CreateUser {
                    user: "app_a".into(),
                    password: "secret-pw-1".into(),
                    if_not_exists: true
                })
        );
        let alter = parse("ALTER USER `app_b` SET PASSWORD 'literal pw'", &p);
        assert!(
            alter
                == Ok(Statement::AlterUser {
                    user: "app_b".into(),
                    password: "literal pw".into()
                })
        );
        assert!(
            parse("DROP USER app_a IF EXISTS", &p)
                == Ok(Statement::DropUser {
                    user: "app_a".into(),
                    if_exists: true
                })
        );
    }

    #[test]
    fn a_missing_parameter_and_an_unknown_statement_are_errors() {
        let none = BTreeMap::new();
        let missing = parse("ALTER USER x SET PASSWORD $pw", &none);
        assert_eq!(missing.err().map(|e| e.code), Some(MISSING_PARAMETER));
        let unknown = parse("MATCH (n) RETURN n", &none);
        assert_eq!(unknown.err().map(|e| e.code), Some(SYNTAX));
    }
}
