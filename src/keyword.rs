//! Enums whose values are named by keywords (configuration values, command-line flags): one
//! table per enum gives its names, and `keywords!` derives from it the parsing (with one
//! message for a configuration and the command line), the display and serde's reading and
//! writing, so the names exist once.

/// `keywords!(Type, "what a value is", { Variant => "name" | "alias", … })` implements, for an
/// enum of unit variants: `Type::NAMES` and `Type::name`, `Display` (the name), `FromStr`
/// (names and aliases; else the error "`x` is not WHAT (expected a, b or c)"), and serde's
/// `Serialize` (the name) and `Deserialize` (through `FromStr`).
macro_rules! keywords {
    ($ty:ident, $what:literal, { $($var:ident => $name:literal $(| $alias:literal)*),+ $(,)? }) => {
        impl $ty {
            /// Every value's name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The name of this value (as configurations and the command line write it).
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$var => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                match s {
                    $($name $(| $alias)* => Ok($ty::$var),)+
                    _ => Err(format!("`{s}` is not {} (expected {})", $what, $crate::keyword::one_of(Self::NAMES))),
                }
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                <String as serde::Deserialize>::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use keywords;

/// `a`, `a or b`, `a, b or c`: the names a value may take, for error messages.
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Colour {
        Red,
        Green,
        Blue,
    }
    super::keywords!(Colour, "a colour", { Red => "red" | "rouge", Green => "green", Blue => "blue" });

    #[test]
    fn names_parse_display_and_round_trip_through_serde() {
        assert_eq!(Colour::NAMES, ["red", "green", "blue"]);
        assert_eq!("rouge".parse::<Colour>(), Ok(Colour::Red));
        assert_eq!(Colour::Green.to_string(), "green");
        assert_eq!(serde_json::to_string(&Colour::Blue).unwrap(), "\"blue\"");
        assert_eq!(serde_json::from_str::<Colour>("\"red\"").unwrap(), Colour::Red);
        assert_eq!("pink".parse::<Colour>(), Err("`pink` is not a colour (expected red, green or blue)".to_string()));
        let e = serde_json::from_str::<Colour>("\"pink\"").unwrap_err().to_string();
        assert!(e.starts_with("`pink` is not a colour"), "{e}");
    }
}
