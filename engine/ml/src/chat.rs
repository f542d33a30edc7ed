//! Chat templates: the model's own Jinja template (GGUF `tokenizer.chat_template`, HF
//! `tokenizer_config.json` `chat_template`) rendered with minijinja the way HF's
//! `apply_chat_template` does, plus built-in `llama2` and `chatml` formats.

use anyhow::{anyhow, bail, Result};
use minijinja::{Environment, Error as JinjaError, ErrorKind, Value};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// "system", "user" or "assistant".
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str) -> Self {
        ChatMessage { role: role.to_string(), content: content.to_string() }
    }
}

#[derive(Debug, Clone)]
pub enum ChatTemplate {
    /// `<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s>` ...
    Llama2,
    /// `<|im_start|>{role}\n{content}<|im_end|>\n` ...
    ChatMl,
    /// A Jinja template with the special-token strings it may refer to.
    Jinja { source: String, bos_token: String, eos_token: String },
}

impl ChatTemplate {
    pub fn builtin(name: &str) -> Option<Self> {
        match name {
            "llama2" | "llama-2" => Some(ChatTemplate::Llama2),
            "chatml" => Some(ChatTemplate::ChatMl),
            _ => None,
        }
    }

    pub fn jinja(source: &str, bos_token: &str, eos_token: &str) -> Result<Self> {
        let t = ChatTemplate::Jinja { source: source.to_string(), bos_token: bos_token.to_string(), eos_token: eos_token.to_string() };
        // Fail at load time, not at the first prompt, on a template that does not parse.
        environment(source)?;
        Ok(t)
    }

    /// Render a conversation; `add_generation_prompt` opens the assistant's turn.
    pub fn render(&self, msgs: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        for (i, m) in msgs.iter().enumerate() {
            if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
                bail!("message {i}: unknown role `{}` (system, user, assistant)", m.role);
            }
        }
        match self {
            ChatTemplate::ChatMl => {
                let mut s = String::new();
                for m in msgs {
                    s.push_str(&format!("<|im_start|>{}\n{}<|im_end|>\n", m.role, m.content));
                }
                if add_generation_prompt {
                    s.push_str("<|im_start|>assistant\n");
                }
                Ok(s)
            }
            ChatTemplate::Llama2 => render_llama2(msgs),
            ChatTemplate::Jinja { source, bos_token, eos_token } => {
                let env = environment(source)?;
                let tmpl = env.get_template("chat").map_err(jinja_err)?;
                let ctx = minijinja::context! {
                    messages => msgs,
                    add_generation_prompt => add_generation_prompt,
                    bos_token => bos_token,
                    eos_token => eos_token,
                };
                tmpl.render(ctx).map_err(jinja_err)
            }
        }
    }
}

fn render_llama2(msgs: &[ChatMessage]) -> Result<String> {
    let (system, rest) = match msgs.first() {
        Some(m) if m.role == "system" => (Some(m.content.as_str()), &msgs[1..]),
        _ => (None, msgs),
    };
    let mut s = String::new();
    for (i, m) in rest.iter().enumerate() {
        let expect = if i % 2 == 0 { "user" } else { "assistant" };
        if m.role != expect {
            bail!("llama2 template: message {} should be `{expect}`, found `{}`", i + system.is_some() as usize, m.role);
        }
        if m.role == "user" {
            let content = match (i, system) {
                (0, Some(sys)) => format!("<<SYS>>\n{sys}\n<</SYS>>\n\n{}", m.content),
                _ => m.content.clone(),
            };
            s.push_str(&format!("<s>[INST] {} [/INST]", content.trim()));
        } else {
            s.push_str(&format!(" {} </s>", m.content.trim()));
        }
    }
    Ok(s)
}

fn jinja_err(e: JinjaError) -> anyhow::Error {
    let mut msg = format!("chat template: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    anyhow!(msg)
}

/// An environment configured like HF's (trim/lstrip blocks, Python string methods, helpers).
fn environment(source: &str) -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_function("raise_exception", |msg: String| -> Result<Value, JinjaError> {
        Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
    });
    env.add_function("strftime_now", |fmt: String| -> Result<Value, JinjaError> {
        Ok(Value::from(strftime_utc(&fmt, std::time::SystemTime::now())))
    });
    env.set_unknown_method_callback(python_methods);
    env.add_template_owned("chat", source.to_string()).map_err(jinja_err)?;
    Ok(env)
}

/// The Python `str`/`dict` methods HF chat templates call.
fn python_methods(_state: &minijinja::State, value: &Value, method: &str, args: &[Value]) -> Result<Value, JinjaError> {
    let arg_str = |i: usize| -> Option<String> { args.get(i).and_then(|a| a.as_str().map(str::to_string)) };
    if let Some(s) = value.as_str() {
        let chars = arg_str(0);
        let strip_set = |c: char| chars.as_deref().map(|set| set.contains(c)).unwrap_or(c.is_whitespace());
        return Ok(match method {
            "strip" => Value::from(s.trim_matches(strip_set)),
            "lstrip" => Value::from(s.trim_start_matches(strip_set)),
            "rstrip" => Value::from(s.trim_end_matches(strip_set)),
            "upper" => Value::from(s.to_uppercase()),
            "lower" => Value::from(s.to_lowercase()),
            "title" => Value::from(title_case(s)),
            "capitalize" => {
                let mut c = s.chars();
                Value::from(c.next().map(|f| f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase()).unwrap_or_default())
            }
            "startswith" => Value::from(arg_str(0).map(|p| s.starts_with(&p)).unwrap_or(false)),
            "endswith" => Value::from(arg_str(0).map(|p| s.ends_with(&p)).unwrap_or(false)),
            "replace" => match (arg_str(0), arg_str(1)) {
                (Some(a), Some(b)) => Value::from(s.replace(&a, &b)),
                _ => return Err(JinjaError::new(ErrorKind::MissingArgument, "replace(old, new)")),
            },
            "split" => match arg_str(0) {
                Some(sep) => Value::from(s.split(sep.as_str()).map(Value::from).collect::<Vec<_>>()),
                None => Value::from(s.split_whitespace().map(Value::from).collect::<Vec<_>>()),
            },
            _ => return Err(JinjaError::new(ErrorKind::UnknownMethod, format!("str has no method {method}"))),
        });
    }
    if value.kind() == minijinja::value::ValueKind::Map {
        return match method {
            "items" => {
                let mut out = Vec::new();
                for k in value.try_iter()? {
                    let v = value.get_item(&k)?;
                    out.push(Value::from(vec![k, v]));
                }
                Ok(Value::from(out))
            }
            "keys" => Ok(Value::from(value.try_iter()?.collect::<Vec<_>>())),
            "values" => Ok(Value::from(value.try_iter()?.map(|k| value.get_item(&k)).collect::<Result<Vec<_>, _>>()?)),
            "get" => {
                let key = args.first().cloned().unwrap_or(Value::UNDEFINED);
                let v = value.get_item(&key)?;
                Ok(if v.is_undefined() { args.get(1).cloned().unwrap_or(Value::from(())) } else { v })
            }
            _ => Err(JinjaError::new(ErrorKind::UnknownMethod, format!("dict has no method {method}"))),
        };
    }
    Err(JinjaError::new(ErrorKind::UnknownMethod, format!("no method {method}")))
}

fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_alpha = false;
    for c in s.chars() {
        if prev_alpha {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        prev_alpha = c.is_alphabetic();
    }
    out
}

/// The subset of `strftime` HF templates use (`%d %b %Y`, `%Y-%m-%d`, ...), in UTC.
fn strftime_utc(fmt: &str, now: std::time::SystemTime) -> String {
    const MONTHS: [&str; 12] =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    const DAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];
    let secs = now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = String::new();
    let mut it = fmt.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('Y') => out.push_str(&y.to_string()),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('B') => out.push_str(MONTHS[(m - 1) as usize]),
            Some('b') => out.push_str(&MONTHS[(m - 1) as usize][..3]),
            Some('A') => out.push_str(DAYS[days.rem_euclid(7) as usize]),
            Some('a') => out.push_str(&DAYS[days.rem_euclid(7) as usize][..3]),
            Some('H') => out.push_str(&format!("{:02}", rem / 3600)),
            Some('M') => out.push_str(&format!("{:02}", rem % 3600 / 60)),
            Some('S') => out.push_str(&format!("{:02}", rem % 60)),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + (m <= 2) as i64;
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convo() -> Vec<ChatMessage> {
        vec![
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "Hi"),
            ChatMessage::new("assistant", "Hello!"),
            ChatMessage::new("user", "Are you sure?"),
        ]
    }

    #[test]
    fn llama2_multi_turn() {
        let s = ChatTemplate::builtin("llama2").unwrap().render(&convo(), true).unwrap();
        assert_eq!(s, "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Are you sure? [/INST]");
    }

    #[test]
    fn chatml_multi_turn() {
        let s = ChatTemplate::builtin("chatml").unwrap().render(&convo(), true).unwrap();
        assert_eq!(
            s,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nAre you sure?<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn jinja_chatml_matches_builtin() {
        // SmolLM2's template shape (HF tokenizer_config.json).
        let src = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
        let t = ChatTemplate::jinja(src, "<|im_start|>", "<|im_end|>").unwrap();
        let want = ChatTemplate::ChatMl.render(&convo(), true).unwrap();
        assert_eq!(t.render(&convo(), true).unwrap(), want);
        let no_sys = t.render(&convo()[1..2], false).unwrap();
        assert!(no_sys.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"));
    }

    #[test]
    fn jinja_llama2_with_raise_exception_and_strip() {
        // Meta's Llama-2 chat template (abridged to its logic).
        let src = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
        let t = ChatTemplate::jinja(src, "<s>", "</s>").unwrap();
        let want = ChatTemplate::Llama2.render(&convo(), true).unwrap();
        assert_eq!(t.render(&convo(), true).unwrap(), want);
        let bad = vec![ChatMessage::new("user", "a"), ChatMessage::new("user", "b")];
        let err = t.render(&bad, true).unwrap_err();
        assert!(format!("{err:#}").contains("must alternate"), "{err:#}");
    }

    #[test]
    fn strftime_known_date() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_732_320_000); // 2024-11-23
        assert_eq!(strftime_utc("%d %b %Y", t), "23 Nov 2024");
        assert_eq!(strftime_utc("%Y-%m-%d %A", t), "2024-11-23 Saturday");
    }

    #[test]
    fn unknown_role_is_an_error() {
        let e = ChatTemplate::ChatMl.render(&[ChatMessage::new("tool", "x")], false);
        assert!(e.is_err());
    }
}
