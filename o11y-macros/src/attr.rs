//! The option list both attributes share: `a = expr, b(...), c`.

use proc_macro2::TokenStream;
use syn::{
    Expr, Ident, Result, Token,
    ext::IdentExt,
    parenthesized,
    parse::{ParseStream, Parser},
};

/// One option as written.
pub(crate) struct Opt {
    pub(crate) name: Ident,
    pub(crate) value: OptValue,
}

/// What follows an option's name.
pub(crate) enum OptValue {
    /// `name`
    Flag,
    /// `name = expr`
    Expr(Expr),
    /// `name(...)`, the tokens inside the parentheses.
    List(TokenStream),
}

impl Opt {
    /// Parses `a = 1, b(x), c` (possibly empty).
    pub(crate) fn parse_all(args: TokenStream) -> Result<Vec<Opt>> {
        let parser = |input: ParseStream<'_>| {
            let mut out = Vec::new();
            while !input.is_empty() {
                out.push(Self::parse_one(input)?);
                if input.is_empty() {
                    break;
                }
                input.parse::<Token![,]>()?;
            }
            Ok(out)
        };
        parser.parse2(args)
    }

    fn parse_one(input: ParseStream<'_>) -> Result<Self> {
        let name = input.call(Ident::parse_any)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            OptValue::Expr(input.parse()?)
        } else if input.peek(syn::token::Paren) {
            let inner;
            parenthesized!(inner in input);
            OptValue::List(inner.parse()?)
        } else {
            OptValue::Flag
        };
        Ok(Self { name, value })
    }

    /// The error for an option given the wrong shape.
    pub(crate) fn shape_error(&self, expected: &str) -> syn::Error {
        syn::Error::new(
            self.name.span(),
            format!("`{}` expects {expected}", self.name),
        )
    }

    /// `name = <string literal>`.
    pub(crate) fn lit_str(&self) -> Result<syn::LitStr> {
        match &self.value {
            OptValue::Expr(Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            })) => Ok(s.clone()),
            OptValue::Expr(e) => Err(syn::Error::new_spanned(
                e,
                format!("`{}` expects a string literal", self.name),
            )),
            _ => Err(self.shape_error("`= \"...\"`")),
        }
    }

    /// `name = <integer literal>`.
    pub(crate) fn lit_int(&self) -> Result<syn::LitInt> {
        match &self.value {
            OptValue::Expr(Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(i),
                ..
            })) => Ok(i.clone()),
            OptValue::Expr(e) => Err(syn::Error::new_spanned(
                e,
                format!("`{}` expects an integer literal", self.name),
            )),
            _ => Err(self.shape_error("`= <integer>`")),
        }
    }

    /// `name = <expression>`.
    pub(crate) fn expr(&self) -> Result<Expr> {
        match &self.value {
            OptValue::Expr(e) => Ok(e.clone()),
            _ => Err(self.shape_error("`= <expression>`")),
        }
    }
}

/// Errors unless `slot` is empty, then fills it.
pub(crate) fn set_once<T>(slot: &mut Option<T>, value: T, name: &Ident) -> Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            name.span(),
            format!("`{name}` is given more than once"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

/// An unknown option, with the list of known ones.
pub(crate) fn unknown(name: &Ident, known: &[&str]) -> syn::Error {
    syn::Error::new(
        name.span(),
        format!(
            "unknown option `{name}`; expected one of: {}",
            known.join(", ")
        ),
    )
}

/// The error tokens followed by the item, unchanged: the item still compiles,
/// so the user sees only the one error that matters.
pub(crate) fn error_with_item(error: &syn::Error, item: TokenStream) -> TokenStream {
    let mut out = error.to_compile_error();
    out.extend(item);
    out
}
