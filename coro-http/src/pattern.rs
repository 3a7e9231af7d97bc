//! Checking a route pattern before it reaches the router's tree, for the
//! mistakes `matchit` accepts but that never do what was meant.
//!
//! `matchit` takes any string: one without a leading `/` (or an empty
//! one) is inserted and never matches, since every path starts with `/`;
//! `:id` and `*rest` are literal text in its syntax (axum 0.7 and older
//! spelled parameters that way, so a pattern copied from there silently
//! matches only the literal `/users/:id`); and a name used twice binds two
//! parameters of the same name, of which a handler can read only the
//! first. Each is refused here with the pattern to write instead, so the
//! mistake shows at start-up, not as a 404 in production.
//!
//! The rules, in the order they are checked:
//!
//! 1. the pattern is not empty (write `/` for the root);
//! 2. it starts with `/`;
//! 3. no segment starts with `:` or `*` followed by a name: write
//!    `{name}` and `{*name}`;
//! 4. no parameter name appears twice.
//!
//! Everything else (unbalanced braces, a catch-all before the end, a route
//! that conflicts with another) is `matchit`'s to refuse.

use std::sync::Arc;

/// The parameter names of `pattern` in order, or why it is refused (a
/// sentence that says what to write instead).
pub(crate) fn check(pattern: &str) -> Result<Vec<Arc<str>>, String> {
    if pattern.is_empty() {
        return Err("an empty pattern never matches; write \"/\" for the root".to_string());
    }
    let legacy = pattern.split('/').any(is_legacy_segment);
    if !pattern.starts_with('/') || legacy {
        let what = if !pattern.starts_with('/') {
            "a pattern starts with '/', as every path does, or it never matches"
        } else {
            "`:name` and `*name` are literal text here, not parameters"
        };
        return Err(format!("{what}; write {:?}", suggestion(pattern)));
    }
    let names = param_names(pattern);
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(format!(
                "the parameter `{name}` appears twice; give each parameter its own name"
            ));
        }
    }
    Ok(names)
}

/// A segment in the older `:name` or `*name` syntax.
fn is_legacy_segment(segment: &str) -> bool {
    let mut chars = segment.chars();
    matches!(chars.next(), Some(':' | '*'))
        && chars
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// `pattern` as it was probably meant: with a leading `/`, and `:name` and
/// `*name` segments in braces.
fn suggestion(pattern: &str) -> String {
    let rooted = if pattern.starts_with('/') {
        pattern.to_string()
    } else {
        format!("/{pattern}")
    };
    rooted
        .split('/')
        .map(|segment| match segment.strip_prefix(':') {
            Some(name) if is_legacy_segment(segment) => format!("{{{name}}}"),
            _ if is_legacy_segment(segment) => format!("{{{segment}}}"),
            _ => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The parameter names in a matchit pattern (`{id}`, `{*rest}`; `{{` and
/// `}}` are literal braces).
fn param_names(pattern: &str) -> Vec<Arc<str>> {
    let mut names = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        if rest[open + 1..].starts_with('{') {
            rest = &rest[open + 2..];
            continue;
        }
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = rest[open + 1..open + close].trim_start_matches('*');
        names.push(Arc::from(name));
        rest = &rest[open + close + 1..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(pattern: &str) -> String {
        check(pattern).expect_err(pattern)
    }

    #[test]
    fn good_patterns_give_their_names() {
        let names = check("/users/{id}/files/{*path}").unwrap();
        let names: Vec<&str> = names.iter().map(|n| &**n).collect();
        assert_eq!(names, ["id", "path"]);
        assert!(check("/").unwrap().is_empty());
        assert!(check("/{{literal}}").unwrap().is_empty());
        // A colon inside a segment is ordinary text.
        assert!(check("/v1/projects:list").is_ok());
        assert!(check("/a/:").is_ok());
    }

    #[test]
    fn a_pattern_that_never_matches_says_what_to_write() {
        assert!(refused("").contains("write \"/\""));
        assert!(refused("nosl").contains("write \"/nosl\""));
        assert!(refused("users/{id}").contains("write \"/users/{id}\""));
    }

    #[test]
    fn the_older_syntax_says_what_to_write() {
        assert!(refused("/users/:id").contains("write \"/users/{id}\""));
        assert!(refused("/static/*path").contains("write \"/static/{*path}\""));
        assert!(refused("/a/:x/b/:y").contains("write \"/a/{x}/b/{y}\""));
        assert!(refused("users/:id").contains("write \"/users/{id}\""));
    }

    #[test]
    fn a_name_twice_is_refused() {
        assert!(refused("/{id}/{id}").contains("`id` appears twice"));
        assert!(refused("/{id}/x/{*id}").contains("`id` appears twice"));
    }
}
