//! Why a request was refused: precise for logs and metrics, coarse for the client.

/// The enum and [`Denial::ALL`] from one list, so a new denial is in both.
macro_rules! denials {
    ($($(#[$doc:meta])* $variant:ident,)*) => {
        /// Every reason a request can be refused. The snake_case name (`reason()`) is
        /// what the warn line and the `denied.<reason>` counter carry; the client only
        /// ever sees the status and the generic body of `reply()`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Denial {
            $($(#[$doc])* $variant,)*
        }

        impl Denial {
            /// Every denial, in declaration order (`ALL[d as usize] == d`): the plugin
            /// defines a `denied.<reason>` counter for each when the configuration loads.
            pub const ALL: &'static [Denial] = &[$(Denial::$variant,)*];
        }
    };
}

denials! {
    // routing
    RouteNotFound,
    /// The path cannot be read one way, or its readings reach different routes.
    AmbiguousPath,
    MethodNotAllowed,
    PayloadTooLarge,
    // signature
    SignatureMissing,
    SignatureRepeated,
    SignatureMalformed,
    SignatureMismatch,
    TimestampMissing,
    TimestampMalformed,
    TimestampOutOfTolerance,
    MessageIdMissing,
    /// An endpoint handshake that cannot be answered (Event Grid's, malformed).
    HandshakeMalformed,
    /// Event Grid's `OPTIONS` handshake from an origin not in `allowed_origins`.
    HandshakeOriginNotAllowed,
    /// A body field the signature covers is missing, or not of the type the sender writes.
    SignedFieldMalformed,
    // secret header
    HeaderMissing,
    HeaderRepeated,
    HeaderMismatch,
    // jwt
    TokenMissing,
    TokenRepeated,
    TokenMalformed,
    TokenAlgorithmNotAllowed,
    TokenSignatureMismatch,
    TokenExpired,
    TokenExpMissing,
    TokenNotYetValid,
    TokenTooOld,
    TokenIatMissing,
    TokenIssuerMismatch,
    TokenAudienceMismatch,
    TokenSubjectMismatch,
    TokenEmailMismatch,
    TokenEmailUnverified,
    /// No key of the JWKS has the token's `kid`.
    TokenKeyUnknown,
    /// The key the token names cannot verify the token's `alg`.
    TokenKeyAlgorithmMismatch,
    /// No `kid`, and more than one key of the JWKS fits the token's `alg`.
    TokenKidMissing,
    // keys from a directory (PayPal, Plaid)
    /// A certificate URL in the request is not on the sender's hosts: never fetched.
    CertUrlRefused,
    /// The key the request names has expired (Plaid's `expired_at`, PayPal's certificate).
    KeyExpired,
    /// The signed hash of the body is not the hash of the body received.
    BodyHashMismatch,
    // ip / rate
    ClientAddressUnknown,
    IpNotAllowed,
    RateLimited,
    // payload
    PayloadNotJson,
    PayloadDuplicateKey,
    PayloadMissing,
    PayloadMismatch,
    // client certificate
    CertMissing,
    CertMalformed,
    CertNotPinned,
    /// Only the certificate's SHA-256 is known (the host gives no more), it matches no
    /// SHA-256 pin, and SHA-1 thumbprints are pinned: whether it is pinned cannot be told.
    CertPinUnverifiable,
    // AWS SNS
    /// The body is not an SNS message (JSON object, members as SNS writes them).
    SnsMessageMalformed,
    /// `x-amz-sns-message-type` is missing, repeated, or not the body's `Type`.
    SnsTypeMismatch,
    SnsTopicNotAllowed,
    /// `SigningCertURL` is not on SNS's own hosts: refused, never fetched.
    SnsCertUrlRefused,
    SnsCertExpired,
    // a remote list never loaded
    ListUnavailable,
    ListStale,
    // a key fetched for the request that waits for it (SPEC 2.1 "Keys from a directory")
    /// The key server did not answer within the fetch's timeout (or the connection failed).
    FetchTimeout,
    /// The key server answered with a status other than 2xx.
    FetchStatus,
    /// The key server's answer is not a document the check accepts.
    FetchMalformed,
    /// The key server's answer is over the document's size limit.
    FetchTooLarge,
    /// The filter itself failed (a request whose state was lost, a caught panic in the
    /// native edition): refused, never forwarded unchecked.
    InternalError,
}

impl Denial {
    pub fn reason(self) -> &'static str {
        use Denial::*;
        match self {
            RouteNotFound => "route_not_found",
            AmbiguousPath => "ambiguous_path",
            MethodNotAllowed => "method_not_allowed",
            PayloadTooLarge => "payload_too_large",
            SignatureMissing => "signature_missing",
            SignatureRepeated => "signature_repeated",
            SignatureMalformed => "signature_malformed",
            SignatureMismatch => "signature_mismatch",
            TimestampMissing => "timestamp_missing",
            TimestampMalformed => "timestamp_malformed",
            TimestampOutOfTolerance => "timestamp_out_of_tolerance",
            MessageIdMissing => "message_id_missing",
            SignedFieldMalformed => "signed_field_malformed",
            HandshakeMalformed => "handshake_malformed",
            HandshakeOriginNotAllowed => "handshake_origin_not_allowed",
            HeaderMissing => "header_missing",
            HeaderRepeated => "header_repeated",
            HeaderMismatch => "header_mismatch",
            TokenMissing => "token_missing",
            TokenRepeated => "token_repeated",
            TokenMalformed => "token_malformed",
            TokenAlgorithmNotAllowed => "token_algorithm_not_allowed",
            TokenSignatureMismatch => "token_signature_mismatch",
            TokenExpired => "token_expired",
            TokenExpMissing => "token_exp_missing",
            TokenNotYetValid => "token_not_yet_valid",
            TokenTooOld => "token_too_old",
            TokenIatMissing => "token_iat_missing",
            TokenIssuerMismatch => "token_issuer_mismatch",
            TokenAudienceMismatch => "token_audience_mismatch",
            TokenSubjectMismatch => "token_subject_mismatch",
            TokenEmailMismatch => "token_email_mismatch",
            TokenEmailUnverified => "token_email_unverified",
            TokenKeyUnknown => "token_key_unknown",
            TokenKeyAlgorithmMismatch => "token_key_algorithm_mismatch",
            TokenKidMissing => "token_kid_missing",
            CertUrlRefused => "cert_url_refused",
            KeyExpired => "key_expired",
            BodyHashMismatch => "body_hash_mismatch",
            ClientAddressUnknown => "client_address_unknown",
            IpNotAllowed => "ip_not_allowed",
            RateLimited => "rate_limited",
            PayloadNotJson => "payload_not_json",
            PayloadDuplicateKey => "payload_duplicate_key",
            PayloadMissing => "payload_missing",
            PayloadMismatch => "payload_mismatch",
            CertMissing => "cert_missing",
            CertMalformed => "cert_malformed",
            CertNotPinned => "cert_not_pinned",
            CertPinUnverifiable => "cert_pin_unverifiable",
            SnsMessageMalformed => "sns_message_malformed",
            SnsTypeMismatch => "sns_type_mismatch",
            SnsTopicNotAllowed => "sns_topic_not_allowed",
            SnsCertUrlRefused => "sns_cert_url_refused",
            SnsCertExpired => "sns_cert_expired",
            ListUnavailable => "list_unavailable",
            ListStale => "list_stale",
            FetchTimeout => "fetch_timeout",
            FetchStatus => "fetch_status",
            FetchMalformed => "fetch_malformed",
            FetchTooLarge => "fetch_too_large",
            InternalError => "internal_error",
        }
    }

    /// What the reason means, in a sentence for the operator (`webhook-guard explain`
    /// prints it beside the reason). Never sent to the client.
    pub fn explanation(self) -> &'static str {
        use Denial::*;
        match self {
            RouteNotFound => "no route matches this path (and unmatched is deny)",
            AmbiguousPath => "the path cannot be read one way, or its readings lead to different routes",
            MethodNotAllowed => "a route has this path, but not this method",
            PayloadTooLarge => "the body is larger than max_body_bytes",
            SignatureMissing => "the signature header (or signature) is missing",
            SignatureRepeated => "a header the signature check reads is sent more than once",
            SignatureMalformed => "the signature is not in the scheme's format (prefix, encoding or length)",
            SignatureMismatch => {
                "no configured secret gives the signature sent: wrong or expired secret, or the body, timestamp or \
                 id differ from what was signed"
            }
            TimestampMissing => "the scheme's timestamp is missing",
            TimestampMalformed => "the timestamp is not a number of the scheme's format",
            TimestampOutOfTolerance => "the timestamp is further from now than tolerance_seconds",
            MessageIdMissing => "the scheme's message id is missing",
            HandshakeMalformed => {
                "an Event Grid handshake that cannot be answered: an OPTIONS without one WebHook-Request-Origin, or a \
                 validation that is not one SubscriptionValidationEvent with a validationCode under \
                 aeg-event-type: SubscriptionValidation"
            }
            HandshakeOriginNotAllowed => "the OPTIONS handshake's WebHook-Request-Origin is not in allowed_origins",
            SignedFieldMalformed => {
                "a body field the signature covers is missing or of another JSON type than the sender writes (a \
                 number for a string), or the body has no items to verify"
            }
            HeaderMissing => "the secret header is missing",
            HeaderRepeated => "the secret header is sent more than once",
            HeaderMismatch => "the secret header's value is none of the configured secrets",
            TokenMissing => "no bearer token",
            TokenRepeated => "the token header is sent more than once",
            TokenMalformed => "the token is not a well-formed JWT",
            TokenAlgorithmNotAllowed => "the token's alg is not in algorithms",
            TokenSignatureMismatch => {
                "no configured secret gives the token's signature, or the key it names does not verify it"
            }
            TokenExpired => "exp is past (beyond leeway_seconds)",
            TokenExpMissing => "the token has no exp and require_exp is true",
            TokenNotYetValid => "nbf or iat is in the future (beyond leeway_seconds)",
            TokenTooOld => "iat is older than max_age_seconds",
            TokenIatMissing => "max_age_seconds needs iat, and the token has none",
            TokenIssuerMismatch => "iss is not the configured issuer",
            TokenAudienceMismatch => "aud holds none of the configured audiences",
            TokenSubjectMismatch => "sub is none of the configured subjects",
            TokenEmailMismatch => "email is none of the configured emails",
            TokenEmailUnverified => "email_verified is not true, and emails are configured",
            TokenKeyUnknown => {
                "no key of the JWKS has the token's kid (a fetched JWKS is refetched early, at most once a minute)"
            }
            TokenKeyAlgorithmMismatch => "the JWKS key the token names is of another type or alg than the token's alg",
            TokenKidMissing => "the token has no kid, and several keys of the JWKS fit its alg",
            CertUrlRefused => {
                "the certificate URL the request names is not HTTPS on the sender's own hosts and path: never fetched"
            }
            KeyExpired => {
                "the key the request names has expired: Plaid's key endpoint marks it expired, or PayPal's \
                 certificate is past its validity"
            }
            BodyHashMismatch => "the body's SHA-256 is not the hash the signed token carries (the body was changed)",
            ClientAddressUnknown => "the client address is not known",
            IpNotAllowed => "the client address is in no allowed CIDR",
            RateLimited => "the rate limit is spent",
            PayloadNotJson => "the body is not the JSON the check reads",
            PayloadDuplicateKey => "a member on the way to the value is written twice",
            PayloadMissing => "the body has no value at the pointer",
            PayloadMismatch => "the value at the pointer matches no configured secret",
            CertMissing => "no client certificate",
            CertMalformed => "the client certificate cannot be read",
            CertNotPinned => "the client certificate's SHA-1 and SHA-256 are not pinned",
            CertPinUnverifiable => {
                "only the client certificate's SHA-256 is known (Envoy before 1.38, or the native edition, without the certificate in \
                 x-forwarded-client-cert), it matches no SHA-256 pin, and the route pins SHA-1 thumbprints"
            }
            ListUnavailable => {
                "the check needs its remote list, JWKS, signing certificate or sender's key (PayPal, Plaid), which has \
                 not loaded yet"
            }
            SnsMessageMalformed => {
                "the body is not an SNS message: not one JSON object, a member written twice or not a string, an \
                 unknown Type or SignatureVersion, or a Signature that is not base64"
            }
            SnsTypeMismatch => "x-amz-sns-message-type is missing, sent twice, or not the message's Type",
            SnsTopicNotAllowed => "the message's TopicArn is none of topic_arns",
            SnsCertUrlRefused => {
                "SigningCertURL is not https://sns.<region>.amazonaws.com[.cn]/<name>.pem: never fetched"
            }
            SnsCertExpired => "the certificate SigningCertURL names has expired (or is not valid yet)",
            ListStale => "the remote list (or JWKS) is older than max_stale_seconds",
            FetchTimeout => {
                "the request waited for a key the check had not fetched yet, and the key server did not answer within \
                 the fetch's timeout_ms"
            }
            FetchStatus => "the request waited for a key, and the key server answered with a status other than 2xx",
            FetchMalformed => {
                "the request waited for a key, and the key server's answer is not a document the check accepts \
                 (malformed, or with weak or unusable keys)"
            }
            FetchTooLarge => "the request waited for a key, and the key server's answer is over its size limit",
            InternalError => "the filter could not judge the request (its state was lost), so it refused it",
        }
    }

    /// The status and body the client gets. Deliberately coarse: the client is never
    /// told which check failed.
    pub fn reply(self) -> Reply {
        use Denial::*;
        match self {
            RouteNotFound => Reply::NOT_FOUND,
            AmbiguousPath => Reply::BAD_REQUEST,
            MethodNotAllowed => Reply::METHOD_NOT_ALLOWED,
            PayloadTooLarge => Reply::PAYLOAD_TOO_LARGE,
            RateLimited => Reply::RATE_LIMITED,
            ListUnavailable | FetchTimeout | FetchStatus | FetchMalformed | FetchTooLarge => Reply::UNAVAILABLE,
            InternalError => Reply::INTERNAL,
            ClientAddressUnknown
            | HandshakeOriginNotAllowed
            | IpNotAllowed
            | CertMissing
            | CertMalformed
            | CertNotPinned
            | CertPinUnverifiable
            | ListStale => Reply::FORBIDDEN,
            _ => Reply::UNAUTHORIZED,
        }
    }
}

/// A local reply: status and JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub status: u32,
    pub body: &'static str,
}

impl Reply {
    pub const BAD_REQUEST: Reply = Reply { status: 400, body: r#"{"error":"bad_request"}"# };
    pub const UNAUTHORIZED: Reply = Reply { status: 401, body: r#"{"error":"unauthorized"}"# };
    pub const FORBIDDEN: Reply = Reply { status: 403, body: r#"{"error":"forbidden"}"# };
    pub const NOT_FOUND: Reply = Reply { status: 404, body: r#"{"error":"not_found"}"# };
    pub const METHOD_NOT_ALLOWED: Reply = Reply { status: 405, body: r#"{"error":"method_not_allowed"}"# };
    pub const PAYLOAD_TOO_LARGE: Reply = Reply { status: 413, body: r#"{"error":"payload_too_large"}"# };
    pub const RATE_LIMITED: Reply = Reply { status: 429, body: r#"{"error":"rate_limited"}"# };
    pub const UNAVAILABLE: Reply = Reply { status: 503, body: r#"{"error":"unavailable"}"# };
    pub const INTERNAL: Reply = Reply { status: 500, body: r#"{"error":"internal"}"# };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping_matches_the_contract() {
        assert_eq!(Denial::SignatureMismatch.reply().status, 401);
        assert_eq!(Denial::TokenExpired.reply().status, 401);
        assert_eq!(Denial::HeaderMismatch.reply().status, 401);
        assert_eq!(Denial::PayloadMismatch.reply().status, 401);
        assert_eq!(Denial::IpNotAllowed.reply().status, 403);
        assert_eq!(Denial::CertNotPinned.reply().status, 403);
        assert_eq!(Denial::CertMissing.reply().status, 403);
        assert_eq!(Denial::CertPinUnverifiable.reply().status, 403);
        assert_eq!(Denial::CertPinUnverifiable.reason(), "cert_pin_unverifiable");
        assert_eq!(Denial::PayloadTooLarge.reply().status, 413);
        assert_eq!(Denial::RateLimited.reply().status, 429);
        assert_eq!(Denial::ListUnavailable.reply().status, 503);
        for d in [Denial::FetchTimeout, Denial::FetchStatus, Denial::FetchMalformed, Denial::FetchTooLarge] {
            assert_eq!(d.reply(), Reply::UNAVAILABLE, "{d:?}");
        }
        assert_eq!(Denial::RouteNotFound.reply().status, 404);
        assert_eq!(Denial::MethodNotAllowed.reply().status, 405);
        assert_eq!(Denial::AmbiguousPath.reply(), Reply::BAD_REQUEST);
        assert_eq!(Denial::AmbiguousPath.reason(), "ambiguous_path");
    }

    #[test]
    fn reasons_are_metric_safe() {
        for &d in Denial::ALL {
            assert!(d.reason().bytes().all(|c| c.is_ascii_lowercase() || c == b'_'), "{d:?}");
        }
    }

    #[test]
    fn all_holds_every_denial_once_in_declaration_order() {
        for (i, &d) in Denial::ALL.iter().enumerate() {
            assert_eq!(d as usize, i, "{d:?}");
        }
        let reasons: std::collections::HashSet<&str> = Denial::ALL.iter().map(|d| d.reason()).collect();
        assert_eq!(reasons.len(), Denial::ALL.len(), "one counter per reason");
    }

    #[test]
    fn an_internal_error_is_a_500_that_names_nothing() {
        assert_eq!(Denial::InternalError.reply(), Reply { status: 500, body: r#"{"error":"internal"}"# });
        assert_eq!(Denial::InternalError.reason(), "internal_error");
    }
}
