//! Runs recognised statements against an instance's users, with Neo4j's checks and error codes.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};

use super::packstream::Value;
use super::statements::{Statement, StatementError};

const INVALID: &str = "Neo.ClientError.General.InvalidArguments";

/// Neo4j's default `dbms.security.auth_minimum_password_length`.
const MIN_PASSWORD: usize = 8;

/// An instance's database users and their passwords.
pub type Users = BTreeMap<String, SecretString>;

/// Columns and rows of a statement's result.
pub type Rows = (Vec<String>, Vec<Vec<Value>>);

fn invalid(message: String) -> StatementError {
    StatementError {
        code: INVALID,
        message,
    }
}

/// Whether `user` exists and `password` is theirs.
pub fn login(users: &Users, user: &str, password: &str) -> bool {
    users
        .get(user)
        .is_some_and(|p| p.expose_secret() == password)
}

fn check_length(password: &str) -> Result<(), StatementError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(invalid(format!(
            "A password must be at least {MIN_PASSWORD} characters."
        )));
    }
    Ok(())
}

/// Applies `statement` for `current` (the logged-in user).
pub fn execute(
    users: &mut Users,
    current: &str,
    statement: Statement,
) -> Result<Rows, StatementError> {
    match statement {
        Statement::Return { column, value } => Ok((vec![column], vec![vec![Value::Int(value)]])),
        Statement::ShowUsers => Ok((
            vec!["user".into()],
            users
                .keys()
                .map(|u| vec![Value::String(u.clone())])
                .collect(),
        )),
        Statement::AlterCurrentUser { old, new } => {
            alter_current(users, current, &old, &new).map(|()| (vec![], vec![]))
        }
        Statement::CreateUser {
            user,
            password,
            if_not_exists,
        } => create(users, &user, &password, if_not_exists).map(|()| (vec![], vec![])),
        Statement::AlterUser { user, password } => {
            alter(users, &user, &password).map(|()| (vec![], vec![]))
        }
        Statement::DropUser { user, if_exists } => {
            drop_user(users, current, &user, if_exists).map(|()| (vec![], vec![]))
        }
    }
}

fn alter_current(
    users: &mut Users,
    current: &str,
    old: &str,
    new: &str,
) -> Result<(), StatementError> {
    let failed = |why: &str| {
        invalid(format!(
            "User '{current}' failed to alter their own password: {why}"
        ))
    };
    if !login(users, current, old) {
        return Err(failed("Invalid principal or credentials."));
    }
    if old == new {
        return Err(failed("Old password and new password cannot be the same."));
    }
    check_length(new)?;
    users.insert(current.to_string(), SecretString::from(new.to_string()));
    Ok(())
}

fn create(
    users: &mut Users,
    user: &str,
    password: &str,
    if_not_exists: bool,
) -> Result<(), StatementError> {
    if users.contains_key(user) {
        if if_not_exists {
            return Ok(());
        }
        return Err(invalid(format!(
            "Failed to create the specified user '{user}': User already exists."
        )));
    }
    check_length(password)?;
    users.insert(user.to_string(), SecretString::from(password.to_string()));
    Ok(())
}

fn alter(users: &mut Users, user: &str, password: &str) -> Result<(), StatementError> {
    if !users.contains_key(user) {
        return Err(invalid(format!(
            "Failed to alter the specified user '{user}': User does not exist."
        )));
    }
    if login(users, user, password) {
        return Err(invalid(format!(
            "Failed to alter the specified user '{user}': Old password and new password cannot \
             be the same."
        )));
    }
    check_length(password)?;
    users.insert(user.to_string(), SecretString::from(password.to_string()));
    Ok(())
}

fn drop_user(
    users: &mut Users,
    current: &str,
    user: &str,
    if_exists: bool,
) -> Result<(), StatementError> {
    if user == current {
        return Err(invalid(format!(
            "Failed to delete the specified user '{user}': Deleting yourself is not allowed."
        )));
    }
    if users.remove(user).is_none() && !if_exists {
        return Err(invalid(format!(
            "Failed to delete the specified user '{user}': User does not exist."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neo4j(password: &str) -> Users {
        [(
            "neo4j".to_string(),
            SecretString::from(password.to_string()),
        )]
        .into_iter()
        .collect()
    }

    #[test]
    fn alter_current_user_needs_the_old_password() {
        let mut users = neo4j("first-password");
        let wrong = Statement::AlterCurrentUser {
            old: "nope-nope".into(),
            new: "second-password".into(),
        };
        assert_eq!(
            execute(&mut users, "neo4j", wrong).err().map(|e| e.code),
            Some(INVALID)
        );
        assert!(login(&users, "neo4j", "first-password"));
        let right = Statement::AlterCurrentUser {
            old: "first-password".into(),
            new: "second-password".into(),
        };
        assert!(execute(&mut users, "neo4j", right).is_ok());
        assert!(login(&users, "neo4j", "second-password"));
        assert!(!login(&users, "neo4j", "first-password"));
    }

    #[test]
    fn short_passwords_and_dropping_yourself_are_refused() {
        let mut users = neo4j("first-password");
        let short = Statement::CreateUser {
            user: "app".into(),
            password: "short".into(),
            if_not_exists: false,
        };
        assert!(execute(&mut users, "neo4j", short).is_err());
        let me = Statement::DropUser {
            user: "neo4j".into(),
            if_exists: false,
        };
        assert!(execute(&mut users, "neo4j", me).is_err());
        assert!(users.contains_key("neo4j"));
    }
}
