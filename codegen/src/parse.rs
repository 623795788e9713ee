//! A reader for the proto3 files arpc writes and the hand-written ones a team keeps: syntax,
//! package, imports, services with unary rpcs, messages (nested too) with scalar, message,
//! enum, `optional`, `repeated`, `map<,>` and `oneof` fields, enums, and `reserved` numbers and
//! names. Options are skipped. Enough to compare two versions of a schema; not a full protoc.

use std::collections::BTreeMap;

/// A parsed `.proto` file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProtoFile {
    /// `package a.b;`, or empty.
    pub package: String,
    /// Services by name.
    pub services: BTreeMap<String, Service>,
    /// Messages by fully qualified name within the file (`Outer.Inner`).
    pub messages: BTreeMap<String, Message>,
    /// Enums by fully qualified name within the file.
    pub enums: BTreeMap<String, Enum>,
}

/// A service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Service {
    /// Rpcs by name.
    pub rpcs: BTreeMap<String, Rpc>,
}

/// A unary rpc.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rpc {
    /// Request type as written.
    pub request: String,
    /// Response type as written.
    pub response: String,
    /// Codecs from arpc's `// codecs: ...` comment above the rpc, if any.
    pub codecs: Option<Vec<String>>,
    /// Line of the rpc.
    pub line: usize,
}

/// A message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// Fields (oneof members included) by number.
    pub fields: BTreeMap<u32, Field>,
    /// Reserved numbers (ranges expanded as pairs, inclusive).
    pub reserved_numbers: Vec<(u32, u32)>,
    /// Reserved names.
    pub reserved_names: Vec<String>,
    /// Line of the message.
    pub line: usize,
}

impl Message {
    /// Whether `n` is reserved.
    pub fn is_reserved(&self, n: u32) -> bool {
        self.reserved_numbers
            .iter()
            .any(|(a, b)| (*a..=*b).contains(&n))
    }
}

/// A field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Field {
    /// Name.
    pub name: String,
    /// `repeated`, `optional` or empty.
    pub label: String,
    /// Type as written (`string`, `Foo`, `map<string, Foo>`).
    pub ty: String,
    /// The oneof it belongs to, if any.
    pub oneof: Option<String>,
    /// Line of the field.
    pub line: usize,
}

/// An enum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Enum {
    /// Values: number → name.
    pub values: BTreeMap<i64, String>,
    /// Reserved numbers.
    pub reserved_numbers: Vec<(i64, i64)>,
    /// Line of the enum.
    pub line: usize,
}

/// The file could not be read as proto3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    line: usize,
}

fn tokenize(src: &str) -> (Vec<Token>, Vec<(usize, String)>) {
    let mut tokens = Vec::new();
    let mut comments = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        let line = i + 1;
        let (code, comment) = match raw.find("//") {
            Some(at) => (&raw[..at], Some(raw[at + 2..].trim().to_owned())),
            None => (raw, None),
        };
        if let Some(c) = comment {
            comments.push((line, c));
        }
        let mut word = String::new();
        let mut chars = code.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                let mut s = String::from('"');
                for d in chars.by_ref() {
                    s.push(d);
                    if d == '"' {
                        break;
                    }
                }
                tokens.push(Token { text: s, line });
            } else if c.is_alphanumeric() || c == '_' || c == '.' || (c == '-' && word.is_empty()) {
                word.push(c);
                if !chars
                    .peek()
                    .is_some_and(|n| n.is_alphanumeric() || *n == '_' || *n == '.')
                {
                    tokens.push(Token {
                        text: std::mem::take(&mut word),
                        line,
                    });
                }
            } else if !c.is_whitespace() {
                tokens.push(Token {
                    text: c.to_string(),
                    line,
                });
            }
        }
    }
    (tokens, comments)
}

struct Parser {
    tokens: Vec<Token>,
    comments: Vec<(usize, String)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(|t| t.text.as_str())
    }

    fn line(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or_else(|| self.tokens.last())
            .map_or(0, |t| t.line)
    }

    fn next(&mut self) -> Result<String, ParseError> {
        let t = self.tokens.get(self.pos).ok_or_else(|| ParseError {
            line: self.line(),
            message: "unexpected end of file".into(),
        })?;
        self.pos += 1;
        Ok(t.text.clone())
    }

    fn expect(&mut self, s: &str) -> Result<(), ParseError> {
        let line = self.line();
        let got = self.next()?;
        if got == s {
            Ok(())
        } else {
            Err(ParseError {
                line,
                message: format!("expected `{s}`, found `{got}`"),
            })
        }
    }

    /// Skips to after the next `;` (options, imports, syntax).
    fn skip_statement(&mut self) -> Result<(), ParseError> {
        while self.next()? != ";" {}
        Ok(())
    }

    /// Skips a `{ ... }` block (options with aggregate values, extensions).
    fn skip_block(&mut self) -> Result<(), ParseError> {
        let mut depth = 0;
        loop {
            match self.next()?.as_str() {
                "{" => depth += 1,
                "}" => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }

    fn number(&mut self) -> Result<i64, ParseError> {
        let line = self.line();
        let t = self.next()?;
        let parsed = if let Some(hex) = t.strip_prefix("0x") {
            i64::from_str_radix(hex, 16).ok()
        } else {
            t.parse().ok()
        };
        parsed.ok_or_else(|| ParseError {
            line,
            message: format!("expected a number, found `{t}`"),
        })
    }

    fn comment_above(&self, line: usize) -> Option<&str> {
        self.comments
            .iter()
            .rev()
            .find(|(l, _)| *l < line && line - *l <= 2)
            .map(|(_, c)| c.as_str())
    }
}

/// Parses a proto3 file.
pub fn parse(src: &str) -> Result<ProtoFile, ParseError> {
    let (tokens, comments) = tokenize(src);
    let mut p = Parser {
        tokens,
        comments,
        pos: 0,
    };
    let mut file = ProtoFile::default();
    while let Some(t) = p.peek() {
        match t {
            "syntax" | "import" | "option" | "edition" => p.skip_statement()?,
            "package" => {
                p.next()?;
                file.package = p.next()?;
                p.expect(";")?;
            }
            "service" => service(&mut p, &mut file)?,
            "message" => message(&mut p, &mut file, "")?,
            "enum" => enumeration(&mut p, &mut file, "")?,
            ";" => {
                p.next()?;
            }
            other => {
                return Err(ParseError {
                    line: p.line(),
                    message: format!("unexpected `{other}` at the top level"),
                });
            }
        }
    }
    Ok(file)
}

fn service(p: &mut Parser, file: &mut ProtoFile) -> Result<(), ParseError> {
    p.expect("service")?;
    let name = p.next()?;
    p.expect("{")?;
    let mut svc = Service::default();
    loop {
        match p.peek() {
            Some("}") => {
                p.next()?;
                break;
            }
            Some("rpc") => {
                let line = p.line();
                p.next()?;
                let rpc_name = p.next()?;
                p.expect("(")?;
                let mut request = p.next()?;
                if request == "stream" {
                    request = p.next()?;
                }
                p.expect(")")?;
                p.expect("returns")?;
                p.expect("(")?;
                let mut response = p.next()?;
                if response == "stream" {
                    response = p.next()?;
                }
                p.expect(")")?;
                if p.peek() == Some("{") {
                    p.skip_block()?;
                } else {
                    p.expect(";")?;
                }
                let codecs = p.comment_above(line).and_then(|c| {
                    c.split("codecs:").nth(1).map(|list| {
                        list.split(',')
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                });
                svc.rpcs.insert(
                    rpc_name,
                    Rpc {
                        request,
                        response,
                        codecs,
                        line,
                    },
                );
            }
            Some("option") => p.skip_statement()?,
            Some(";") => {
                p.next()?;
            }
            _ => {
                return Err(ParseError {
                    line: p.line(),
                    message: format!("unexpected `{}` in service {name}", p.peek().unwrap_or("")),
                });
            }
        }
    }
    file.services.insert(name, svc);
    Ok(())
}

/// `name` inside `scope` (`Outer.Inner`), or `name` at the top level.
fn qualify(scope: &str, name: String) -> String {
    if scope.is_empty() {
        name
    } else {
        format!("{scope}.{name}")
    }
}

fn message(p: &mut Parser, file: &mut ProtoFile, scope: &str) -> Result<(), ParseError> {
    let line = p.line();
    p.expect("message")?;
    let full = qualify(scope, p.next()?);
    p.expect("{")?;
    let mut msg = Message {
        line,
        ..Message::default()
    };
    body(p, file, &full, &mut msg, None)?;
    file.messages.insert(full, msg);
    Ok(())
}

fn body(
    p: &mut Parser,
    file: &mut ProtoFile,
    full: &str,
    msg: &mut Message,
    oneof: Option<&str>,
) -> Result<(), ParseError> {
    loop {
        match p.peek() {
            Some("}") => {
                p.next()?;
                return Ok(());
            }
            Some("message") => message(p, file, full)?,
            Some("enum") => enumeration(p, file, full)?,
            Some("option") => p.skip_statement()?,
            Some(";") => {
                p.next()?;
            }
            Some("oneof") => {
                p.next()?;
                let name = p.next()?;
                p.expect("{")?;
                body(p, file, full, msg, Some(&name))?;
            }
            Some("reserved") => {
                p.next()?;
                loop {
                    let t = p.peek().unwrap_or(";").to_owned();
                    if t == ";" {
                        p.next()?;
                        break;
                    }
                    if t == "," {
                        p.next()?;
                    } else if t.starts_with('"') {
                        p.next()?;
                        msg.reserved_names.push(t.trim_matches('"').to_owned());
                    } else {
                        let a = p.number()?;
                        let b = if p.peek() == Some("to") {
                            p.next()?;
                            if p.peek() == Some("max") {
                                p.next()?;
                                i64::from(u32::MAX)
                            } else {
                                p.number()?
                            }
                        } else {
                            a
                        };
                        let to_u32 = |n: i64| u32::try_from(n).unwrap_or(0);
                        msg.reserved_numbers.push((to_u32(a), to_u32(b)));
                    }
                }
            }
            Some(_) => {
                let line = p.line();
                let mut label = String::new();
                let mut ty = p.next()?;
                if matches!(ty.as_str(), "repeated" | "optional" | "required") {
                    label = ty;
                    ty = p.next()?;
                }
                if ty == "map" {
                    p.expect("<")?;
                    let k = p.next()?;
                    p.expect(",")?;
                    let v = p.next()?;
                    p.expect(">")?;
                    ty = format!("map<{k}, {v}>");
                }
                let name = p.next()?;
                p.expect("=")?;
                let number = p.number()?;
                if p.peek() == Some("[") {
                    while p.next()? != "]" {}
                }
                p.expect(";")?;
                let number = u32::try_from(number).map_err(|_| ParseError {
                    line,
                    message: format!("field number {number} is out of range"),
                })?;
                msg.fields.insert(
                    number,
                    Field {
                        name,
                        label,
                        ty,
                        oneof: oneof.map(str::to_owned),
                        line,
                    },
                );
            }
            None => {
                return Err(ParseError {
                    line: p.line(),
                    message: format!("unexpected end of file in message {full}"),
                });
            }
        }
    }
}

fn enumeration(p: &mut Parser, file: &mut ProtoFile, scope: &str) -> Result<(), ParseError> {
    let line = p.line();
    p.expect("enum")?;
    let full = qualify(scope, p.next()?);
    p.expect("{")?;
    let mut e = Enum {
        line,
        ..Enum::default()
    };
    loop {
        match p.peek() {
            Some("}") => {
                p.next()?;
                break;
            }
            Some("option") => p.skip_statement()?,
            Some(";") => {
                p.next()?;
            }
            Some("reserved") => {
                p.next()?;
                loop {
                    let t = p.peek().unwrap_or(";").to_owned();
                    if t == ";" {
                        p.next()?;
                        break;
                    }
                    if t == "," || t.starts_with('"') {
                        p.next()?;
                        continue;
                    }
                    let a = p.number()?;
                    let b = if p.peek() == Some("to") {
                        p.next()?;
                        p.number()?
                    } else {
                        a
                    };
                    e.reserved_numbers.push((a, b));
                }
            }
            Some(_) => {
                let value = p.next()?;
                p.expect("=")?;
                let n = p.number()?;
                if p.peek() == Some("[") {
                    while p.next()? != "]" {}
                }
                p.expect(";")?;
                e.values.insert(n, value);
            }
            None => {
                return Err(ParseError {
                    line: p.line(),
                    message: "unexpected end of file in an enum".into(),
                });
            }
        }
    }
    file.enums.insert(full, e);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_renderer_writes_and_hand_written_extras() {
        let src = r#"
syntax = "proto3";
package shop.v1;
import "google/protobuf/empty.proto";
option java_package = "x.y";

service Display {
  // read, idempotent; codecs: proto, postcard
  rpc Show(Screen) returns (Screen);
  rpc Redeem(Voucher) returns (Perk) { option deprecated = true; }
}

message Screen {
  reserved 7, 9 to 11;
  reserved "old";
  uint64 id = 1;
  optional string note = 5 [json_name = "n"];
  repeated Grade grades = 6;
  map<string, Voucher> by_name = 20;
  message Inner { int32 x = 1; }
  oneof value {
    google.protobuf.Empty free = 30;
    uint32 discount = 31;
  }
}

enum Grade {
  GRADE_BASIC = 0;
  GRADE_LEGACY = -1;
  reserved 3;
}
"#;
        let f = parse(src).unwrap();
        assert_eq!(f.package, "shop.v1");
        let show = &f.services["Display"].rpcs["Show"];
        assert_eq!(
            (show.request.as_str(), show.response.as_str()),
            ("Screen", "Screen")
        );
        assert_eq!(
            show.codecs.as_deref(),
            Some(&["proto".to_owned(), "postcard".to_owned()][..])
        );
        let screen = &f.messages["Screen"];
        assert!(screen.is_reserved(10) && screen.is_reserved(7) && !screen.is_reserved(8));
        assert_eq!(screen.reserved_names, ["old"]);
        assert_eq!(screen.fields[&5].label, "optional");
        assert_eq!(screen.fields[&20].ty, "map<string, Voucher>");
        assert_eq!(screen.fields[&31].oneof.as_deref(), Some("value"));
        assert!(f.messages.contains_key("Screen.Inner"));
        assert_eq!(f.enums["Grade"].values[&-1], "GRADE_LEGACY");
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse("syntax = \"proto3\";\nmessage A {\n  int32 x = ;\n}\n").unwrap_err();
        assert_eq!(err.line, 3);
    }
}
