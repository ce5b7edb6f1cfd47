//! Cursor pagination of edges: `limit`, `after`, `before`, and
//! `paging = {cursors:{before,after}, next?, previous?}` where `next`
//! appears only when more items follow (graph-api.md §1).

use std::ops::Range;

use serde_json::{Value, json};

use crate::graph_error::GraphError;
use crate::request::ApiRequest;
use crate::state::State;

const DEFAULT_LIMIT: usize = 25;
/// Larger `limit`s are lowered to this, without an error.
const MAX_LIMIT: usize = 100;
const CURSOR_PREFIX: &str = "gfc1:";

/// One page of an edge.
pub(super) struct Page {
    pub(super) range: Range<usize>,
    pub(super) paging: Option<Value>,
}

/// The page of `ids` (the edge's items, in order) that a request asks for.
pub(super) fn paginate(st: &State, req: &ApiRequest, ids: &[String]) -> Result<Page, GraphError> {
    let limit = match req.params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| GraphError::param("Param limit must be a positive integer"))?
            .min(MAX_LIMIT),
    };
    let position = |key: &str| -> Result<Option<usize>, GraphError> {
        let Some(cursor) = req.params.get(key) else {
            return Ok(None);
        };
        decode_cursor(cursor)
            .and_then(|id| ids.iter().position(|i| *i == id))
            .map(Some)
            .ok_or_else(|| GraphError::param(format!("Invalid {key} cursor")))
    };
    let range = if let Some(after) = position("after")? {
        let start = after + 1;
        start..(start + limit).min(ids.len())
    } else if let Some(before) = position("before")? {
        before.saturating_sub(limit)..before
    } else {
        0..limit.min(ids.len())
    };
    if range.is_empty() {
        return Ok(Page {
            range,
            paging: None,
        });
    }
    let first = encode_cursor(&ids[range.start]);
    let last = encode_cursor(&ids[range.end - 1]);
    let mut paging = json!({ "cursors": { "before": first, "after": last } });
    if range.end < ids.len() {
        paging["next"] = json!(page_url(st, req, limit, "after", &last));
    }
    if range.start > 0 {
        paging["previous"] = json!(page_url(st, req, limit, "before", &first));
    }
    Ok(Page {
        range,
        paging: Some(paging),
    })
}

/// The URL of a neighbouring page. As Meta's, it carries the caller's
/// credentials: the request's token as `access_token` (also when it came in
/// the `Authorization` header), and its `appsecret_proof` and
/// `appsecret_time` when it had them, so the URL works as it is. That is
/// why a client must never log it.
fn page_url(st: &State, req: &ApiRequest, limit: usize, key: &str, cursor: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(token) = req.token() {
        query.append_pair("access_token", token);
    }
    for (k, v) in req.params.iter() {
        if !matches!(k, "access_token" | "after" | "before" | "limit") {
            query.append_pair(k, v);
        }
    }
    query.append_pair("limit", &limit.to_string());
    query.append_pair(key, cursor);
    let version = req
        .version
        .as_ref()
        .map(|v| format!("/{v}"))
        .unwrap_or_default();
    format!(
        "{}{version}{}?{}",
        st.base_url,
        req.path_string(),
        query.finish()
    )
}

fn encode_cursor(id: &str) -> String {
    base64url_encode(format!("{CURSOR_PREFIX}{id}").as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = base64url_decode(cursor)?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(CURSOR_PREFIX).map(str::to_owned)
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|a| *a == c)?;
        acc = (acc << 6) | u32::try_from(value).ok()?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        for id in ["1", "12", "123", "615500000000001"] {
            assert_eq!(decode_cursor(&encode_cursor(id)).as_deref(), Some(id));
        }
        assert_eq!(base64url_encode(b"gfc1:1"), "Z2ZjMTox");
        assert_eq!(decode_cursor("not a cursor"), None);
    }
}
