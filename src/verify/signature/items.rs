//! Signatures inside the items of a JSON body: each item of a list carries its own
//! signature over some of its fields, joined by a separator (Adyen's notifications: an
//! HMAC over `pspReference:originalReference:...:success` in each
//! `NotificationRequestItem`). Every item must verify, with one key.

use super::model::{find, Pointer};
use crate::denial::Denial;
use crate::json::{Json, Number};

/// What a signed field must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string; absent is the empty string.
    Text,
    /// A string that must be present.
    RequiredText,
    /// An integer that must be present, signed as written in decimal.
    RequiredInteger,
}

/// One signed field of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemField {
    /// Within the item.
    pub at: Pointer,
    pub kind: Kind,
}

/// Where the items are, where each keeps its signature, and what it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Items {
    /// The array of items in the body (`/notificationItems`).
    pub list: Pointer,
    /// The item within each element of the array (`/NotificationRequestItem`).
    pub item: Pointer,
    /// The signature within the item (`/additionalData/hmacSignature`).
    pub signature: Pointer,
    /// The signed fields, in order, joined by `separator`.
    pub fields: Vec<ItemField>,
    pub separator: u8,
}

/// One item as read: the signed bytes, and its signature as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedItem {
    pub signed: Vec<u8>,
    /// `None` when the item carries no signature (the signer fills it in).
    pub signature: Option<String>,
}

impl Items {
    /// The items of `doc`, each with its signed bytes and signature. A body without a
    /// non-empty list of items, an item that is not an object, or a signed field missing
    /// or of another type than the sender writes (a number where it sends a string) is
    /// refused, before any key is tried.
    pub fn read(&self, doc: &Json) -> Result<Vec<SignedItem>, Denial> {
        let list = match find(doc, &self.list)? {
            Some(Json::Array(list)) if !list.is_empty() => list,
            _ => return Err(Denial::SignedFieldMalformed),
        };
        list.iter().map(|element| self.read_one(element)).collect()
    }

    /// The element's item, which must be an object.
    pub fn item<'a>(&self, element: &'a Json) -> Result<&'a Json, Denial> {
        match find(element, &self.item)? {
            Some(item @ Json::Object(_)) => Ok(item),
            _ => Err(Denial::SignedFieldMalformed),
        }
    }

    fn read_one(&self, element: &Json) -> Result<SignedItem, Denial> {
        let item = self.item(element)?;
        let mut signed = Vec::new();
        for (i, f) in self.fields.iter().enumerate() {
            if i > 0 {
                signed.push(self.separator);
            }
            match (find(item, &f.at)?, f.kind) {
                (None, Kind::Text) => {}
                (Some(Json::String(s)), Kind::Text | Kind::RequiredText) => signed.extend_from_slice(s.as_bytes()),
                (Some(Json::Number(Number::U64(n))), Kind::RequiredInteger) => {
                    signed.extend_from_slice(n.to_string().as_bytes())
                }
                (Some(Json::Number(Number::I64(n))), Kind::RequiredInteger) => {
                    signed.extend_from_slice(n.to_string().as_bytes())
                }
                _ => return Err(Denial::SignedFieldMalformed),
            }
        }
        let signature = match find(item, &self.signature)? {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(_) => return Err(Denial::SignatureMalformed),
        };
        Ok(SignedItem { signed, signature })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adyen() -> Items {
        let p = |s: &str| Pointer::parse(s).unwrap();
        let text = |s: &str| ItemField { at: p(s), kind: Kind::Text };
        Items {
            list: p("/notificationItems"),
            item: p("/NotificationRequestItem"),
            signature: p("/additionalData/hmacSignature"),
            fields: vec![
                text("/pspReference"),
                ItemField { at: p("/amount/value"), kind: Kind::RequiredInteger },
                ItemField { at: p("/amount/currency"), kind: Kind::RequiredText },
                text("/success"),
            ],
            separator: b':',
        }
    }

    fn read(body: &str) -> Result<Vec<SignedItem>, Denial> {
        adyen().read(&crate::json::parse(body.as_bytes()).unwrap())
    }

    fn wrap(item: &str) -> String {
        format!(r#"{{"live":"false","notificationItems":[{{"NotificationRequestItem":{item}}}]}}"#)
    }

    #[test]
    fn fields_are_joined_in_order_with_absent_text_empty() {
        let got = read(&wrap(
            r#"{"success":"true","amount":{"currency":"EUR","value":1130},"additionalData":{"hmacSignature":"c2ln"}}"#,
        ))
        .unwrap();
        assert_eq!(got, [SignedItem { signed: b":1130:EUR:true".to_vec(), signature: Some("c2ln".into()) }]);
        let negative = read(&wrap(r#"{"pspReference":"a:b","amount":{"currency":"EUR","value":-5}}"#)).unwrap();
        assert_eq!(negative, [SignedItem { signed: b"a:b:-5:EUR:".to_vec(), signature: None }]);
    }

    #[test]
    fn every_item_is_read() {
        let body = r#"{"notificationItems":[
            {"NotificationRequestItem":{"pspReference":"1","amount":{"value":1,"currency":"EUR"}}},
            {"NotificationRequestItem":{"pspReference":"2","amount":{"value":2,"currency":"USD"}}}]}"#;
        let got: Vec<Vec<u8>> = read(body).unwrap().into_iter().map(|i| i.signed).collect();
        assert_eq!(got, [b"1:1:EUR:".to_vec(), b"2:2:USD:".to_vec()]);
    }

    #[test]
    fn wrong_shapes_and_types_are_refused_by_name() {
        let item = |i: &str| read(&wrap(i));
        for (body, want) in [
            (r#"{"notificationItems":[]}"#.to_string(), Denial::SignedFieldMalformed),
            (r#"{"notificationItems":{}}"#.to_string(), Denial::SignedFieldMalformed),
            (r#"{"items":[]}"#.to_string(), Denial::SignedFieldMalformed),
            (r#"{"notificationItems":[{"Other":{}}]}"#.to_string(), Denial::SignedFieldMalformed),
            (r#"{"notificationItems":[{"NotificationRequestItem":"x"}]}"#.to_string(), Denial::SignedFieldMalformed),
            (r#"{"notificationItems":[],"notificationItems":[]}"#.to_string(), Denial::PayloadDuplicateKey),
        ] {
            assert_eq!(read(&body), Err(want), "{body}");
        }
        for (i, want) in [
            (r#"{"pspReference":1,"amount":{"value":1,"currency":"EUR"}}"#, Denial::SignedFieldMalformed),
            (r#"{"pspReference":null,"amount":{"value":1,"currency":"EUR"}}"#, Denial::SignedFieldMalformed),
            (r#"{"success":true,"amount":{"value":1,"currency":"EUR"}}"#, Denial::SignedFieldMalformed),
            (r#"{"amount":{"value":"1","currency":"EUR"}}"#, Denial::SignedFieldMalformed),
            (r#"{"amount":{"value":1.5,"currency":"EUR"}}"#, Denial::SignedFieldMalformed),
            (r#"{"amount":{"value":1e3,"currency":"EUR"}}"#, Denial::SignedFieldMalformed),
            (r#"{"amount":{"currency":"EUR"}}"#, Denial::SignedFieldMalformed),
            (r#"{"amount":{"value":1}}"#, Denial::SignedFieldMalformed),
            (r#"{"pspReference":"x"}"#, Denial::SignedFieldMalformed),
            (r#"{"amount":{"value":1,"value":2,"currency":"EUR"}}"#, Denial::PayloadDuplicateKey),
            (
                r#"{"amount":{"value":1,"currency":"EUR"},"additionalData":{"hmacSignature":5}}"#,
                Denial::SignatureMalformed,
            ),
        ] {
            assert_eq!(item(i), Err(want), "{i}");
        }
    }
}
