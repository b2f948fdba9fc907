//! Declarative macros for the crate's own repeated declarations.

/// A closed enum whose every value has one fixed name, the one the API, the store, a
/// record or a token writes.
///
/// Write the enum as usual (its attributes and docs are kept), with each variant's name
/// after `=>`:
///
/// ```text
/// named_enum! {
///     /// Where a key is in its life.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum KeyState {
///         /// Signs mail.
///         Active => "active",
///         /// No longer signs.
///         Retiring => "retiring",
///     }
/// }
/// ```
///
/// and it gets, from that one list:
/// - `ALL`, every value in the order of the variants;
/// - `as_str`, the value's name;
/// - `from_name`, the value named exactly so (what `as_str` wrote);
/// - `Display`, which writes the name.
///
/// How a type reads names from users (case, error messages) stays with the type, on top
/// of `from_name`. Serde attributes are the type's own; its tests hold them to the names.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident => $text:literal
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $(
                $(#[$variant_meta])*
                $variant,
            )+
        }

        impl $name {
            /// Every value, in the order of the variants.
            pub const ALL: [$name; [$($name::$variant),+].len()] = [$($name::$variant),+];

            /// The value's name, as the API, the store and the records write it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value named exactly `name` (what [`as_str`](Self::as_str) wrote).
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use named_enum;

/// The text access of a newtype over a `String` that is valid by construction: `as_str`
/// (with the doc given) and a `Display` that writes the text. With `deserialize: parse`,
/// also a `Deserialize` that reads the text through `parse`, so that no invalid value
/// comes in through serde either.
///
/// ```text
/// text_newtype!(Selector, "The selector as text.", deserialize: Selector::parse);
/// ```
macro_rules! text_newtype {
    ($name:ident, $as_str_doc:literal) => {
        impl $name {
            #[doc = $as_str_doc]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
    ($name:ident, $as_str_doc:literal, deserialize: $parse:path) => {
        $crate::macros::text_newtype!($name, $as_str_doc);

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                $parse(&s).map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use text_newtype;

/// An id of the form `<prefix><ULID>` (`dom_01J…`), which sorts by creation time and
/// names its kind wherever it turns up: the type, `parse`, `generate`, `as_str` and
/// `Display`. Attributes given before the name (docs, more derives) go on the type.
macro_rules! prefixed_id {
    ($(#[$attr:meta])* $name:ident, $prefix:literal) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Parses `", $prefix, "<ULID>`.")]
            pub fn parse(s: &str) -> Result<Self, $crate::error::InputError> {
                $crate::ids::parse_prefixed(s, $prefix).map($name)
            }

            /// A new id, ordered by `now`.
            pub fn generate(ids: &$crate::ids::IdGenerator, now: ::time::OffsetDateTime) -> Self {
                $name(format!(concat!($prefix, "{}"), ids.next(now)))
            }
        }

        $crate::macros::text_newtype!($name, "The id as text.");
    };
}

pub(crate) use prefixed_id;

/// Implements [`DnsLookup`](crate::ports::DnsLookup) for a decorator, which does the
/// same around every query of the lookup it wraps (in its field `inner`): a budget, a
/// memo, an observer. The decorator writes what it does once, in one of two forms:
///
/// - `each query: self.method`: an `async fn method<T>(&self, rtype: &'static str,
///   answer: impl Future<Output = DnsAnswer<T>>) -> DnsAnswer<T>`, given the DNS type
///   asked for (`"TXT"`) and the wrapped lookup's answer, not yet awaited;
/// - `each query: around!`: a macro, for a decorator that needs the query itself, called
///   as `around!(self, txt, name: name, "TXT")` (`ip: ip` for `ptr`) with the method of
///   the wrapped lookup, its argument and the DNS type.
///
/// A query added to the port is added here once, and reaches every decorator.
macro_rules! dns_decorator {
    (impl DnsLookup for $ty:ty, each query: self.$method:ident) => {
        $crate::macros::dns_decorator!(@impl $ty, { $crate::macros::dns_around_method }, [$method;]);
    };
    (impl DnsLookup for $ty:ty, each query: $around:ident!) => {
        $crate::macros::dns_decorator!(@impl $ty, { $around }, []);
    };
    (@impl $ty:ty, { $($around:tt)+ }, [$($pre:tt)*]) => {
        #[::async_trait::async_trait]
        impl $crate::ports::DnsLookup for $ty {
            async fn txt(&self, name: &str) -> $crate::ports::DnsAnswer<$crate::ports::TxtRecordData> {
                $($around)+!($($pre)* self, txt, name: name, "TXT")
            }

            async fn a(&self, name: &str) -> $crate::ports::DnsAnswer<::std::net::Ipv4Addr> {
                $($around)+!($($pre)* self, a, name: name, "A")
            }

            async fn aaaa(&self, name: &str) -> $crate::ports::DnsAnswer<::std::net::Ipv6Addr> {
                $($around)+!($($pre)* self, aaaa, name: name, "AAAA")
            }

            async fn mx(&self, name: &str) -> $crate::ports::DnsAnswer<$crate::ports::MxRecord> {
                $($around)+!($($pre)* self, mx, name: name, "MX")
            }

            async fn ptr(&self, ip: ::std::net::IpAddr) -> $crate::ports::DnsAnswer<String> {
                $($around)+!($($pre)* self, ptr, ip: ip, "PTR")
            }

            async fn cname(&self, name: &str) -> $crate::ports::DnsAnswer<String> {
                $($around)+!($($pre)* self, cname, name: name, "CNAME")
            }
        }
    };
}

/// The `each query: self.method` form of [`dns_decorator`].
macro_rules! dns_around_method {
    ($method:ident; $this:ident, $query:ident, $kind:ident: $arg:ident, $rtype:literal) => {
        $this.$method($rtype, $this.inner.$query($arg)).await
    };
}

pub(crate) use {dns_around_method, dns_decorator};

/// A `Debug` for a type whose fields cannot or must not all be shown (ports behind trait
/// objects, keys, caches): it lists the fields named, written like a struct pattern —
/// `field` for the field itself, `field = method()` for what a method of the value says
/// (a cache's length) — and ends in `..` (`finish_non_exhaustive`) when the others are
/// left out.
///
/// ```
/// struct Pool { size: u64, secret: Vec<u8> }
/// domain_core::debug_fields!(Pool { size, .. });
///
/// let pool = Pool { size: 3, secret: vec![1] };
/// assert_eq!(format!("{pool:?}"), "Pool { size: 3, .. }");
/// ```
#[macro_export]
macro_rules! debug_fields {
    ($name:ident { $($field:ident $(= $method:ident())?),* $(,)? }) => {
        $crate::debug_fields!(@impl $name, finish, $($field $(= $method())?),*);
    };
    ($name:ident { $($field:ident $(= $method:ident())?,)* .. }) => {
        $crate::debug_fields!(@impl $name, finish_non_exhaustive, $($field $(= $method())?),*);
    };
    (@impl $name:ident, $finish:ident, $($field:ident $(= $method:ident())?),*) => {
        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($field), &$crate::debug_fields!(@value self, $field $(= $method())?)))*
                    .$finish()
            }
        }
    };
    (@value $this:ident, $field:ident) => {
        $this.$field
    };
    (@value $this:ident, $field:ident = $method:ident()) => {
        $this.$method()
    };
}
