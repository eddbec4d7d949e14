//! The options of `#[traced(...)]`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{
    Expr, Ident, LitStr, Result, Token,
    ext::IdentExt,
    parse::{ParseStream, Parser},
    punctuated::Punctuated,
};

use crate::attr::{Opt, OptValue, set_once, unknown};

const OPTIONS: &[&str] = &["name", "kind", "skip", "skip_all", "fields"];
const KINDS: &[&str] = &["internal", "server", "client", "producer", "consumer"];

/// `#[traced(...)]` as parsed and checked.
#[derive(Default)]
pub(crate) struct TracedArgs {
    pub(crate) name: Option<LitStr>,
    /// `::o11y::__private::SpanKind::...`
    pub(crate) kind: Option<TokenStream>,
    pub(crate) skip: Vec<Ident>,
    pub(crate) skip_all: bool,
    pub(crate) fields: Vec<Field>,
}

/// `key = expr` in `fields(...)`.
pub(crate) struct Field {
    pub(crate) key: LitStr,
    pub(crate) value: Expr,
}

impl TracedArgs {
    pub(crate) fn parse(args: TokenStream) -> Result<Self> {
        let mut out = Self::default();
        let mut skip_all = None;
        let mut skip = None;
        let mut fields = None;
        for opt in Opt::parse_all(args)? {
            match opt.name.to_string().as_str() {
                "name" => set_once(&mut out.name, opt.lit_str()?, &opt.name)?,
                "kind" => set_once(&mut out.kind, kind(&opt)?, &opt.name)?,
                "skip_all" => match opt.value {
                    OptValue::Flag => set_once(&mut skip_all, (), &opt.name)?,
                    _ => return Err(opt.shape_error("no value")),
                },
                "skip" => set_once(&mut skip, idents(&opt)?, &opt.name)?,
                "fields" => set_once(&mut fields, field_list(&opt)?, &opt.name)?,
                _ => return Err(unknown(&opt.name, OPTIONS)),
            }
        }
        out.skip_all = skip_all.is_some();
        out.skip = skip.unwrap_or_default();
        out.fields = fields.unwrap_or_default();
        Ok(out)
    }
}

fn kind(opt: &Opt) -> Result<TokenStream> {
    let (text, span) = match &opt.value {
        OptValue::Expr(Expr::Path(p)) if p.path.get_ident().is_some() => {
            let ident = p.path.get_ident().map(Ident::to_string).unwrap_or_default();
            (ident, p.path.segments[0].ident.span())
        }
        OptValue::Expr(Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        })) => (s.value(), s.span()),
        OptValue::Expr(e) => return Err(bad_kind(syn::spanned::Spanned::span(e))),
        _ => return Err(opt.shape_error("`= internal|server|client|producer|consumer`")),
    };
    let variant = match text.to_ascii_lowercase().as_str() {
        "internal" => quote!(Internal),
        "server" => quote!(Server),
        "client" => quote!(Client),
        "producer" => quote!(Producer),
        "consumer" => quote!(Consumer),
        _ => return Err(bad_kind(span)),
    };
    Ok(quote!(::o11y::__private::SpanKind::#variant))
}

fn bad_kind(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        format!("unknown span kind; expected one of: {}", KINDS.join(", ")),
    )
}

fn idents(opt: &Opt) -> Result<Vec<Ident>> {
    let OptValue::List(tokens) = &opt.value else {
        return Err(opt.shape_error("a list of argument names: `skip(a, b)`"));
    };
    let parser = Punctuated::<Ident, Token![,]>::parse_terminated_with;
    let list = (|input: ParseStream<'_>| parser(input, Ident::parse_any)).parse2(tokens.clone())?;
    Ok(list.into_iter().collect())
}

fn field_list(opt: &Opt) -> Result<Vec<Field>> {
    let OptValue::List(tokens) = &opt.value else {
        return Err(opt.shape_error("a list of `key = value`: `fields(user.id = id)`"));
    };
    let parser = |input: ParseStream<'_>| {
        Punctuated::<Field, Token![,]>::parse_terminated_with(input, Field::parse)
    };
    Ok(parser.parse2(tokens.clone())?.into_iter().collect())
}

impl Field {
    /// `a.b.c = expr` or `"a.b" = expr`.
    fn parse(input: ParseStream<'_>) -> Result<Self> {
        let key = if input.peek(LitStr) {
            input.parse::<LitStr>()?
        } else {
            let first = input.call(Ident::parse_any)?;
            let mut text = first.to_string();
            while input.peek(Token![.]) {
                input.parse::<Token![.]>()?;
                text.push('.');
                text.push_str(&input.call(Ident::parse_any)?.to_string());
            }
            LitStr::new(&text, first.span())
        };
        input.parse::<Token![=]>()?;
        Ok(Self {
            key,
            value: input.parse()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    #[test]
    fn parses_every_option() {
        let args = TracedArgs::parse(quote!(
            name = "checkout",
            kind = "Producer",
            skip(a, r#type),
            skip_all,
            fields(user.id = id, "http.route" = "/x")
        ))
        .unwrap();
        assert_eq!(args.name.unwrap().value(), "checkout");
        assert_eq!(
            args.kind.unwrap().to_string(),
            quote!(::o11y::__private::SpanKind::Producer).to_string()
        );
        assert_eq!(args.skip.len(), 2);
        assert!(args.skip_all);
        let keys: Vec<String> = args.fields.iter().map(|f| f.key.value()).collect();
        assert_eq!(keys, ["user.id", "http.route"]);
    }

    #[test]
    fn rejects_misuse_with_a_message() {
        for (tokens, message) in [
            (quote!(nmae = "x"), "unknown option `nmae`"),
            (quote!(kind = sideways), "unknown span kind"),
            (quote!(kind), "`kind` expects"),
            (quote!(name = 1), "`name` expects a string literal"),
            (quote!(skip_all = true), "`skip_all` expects no value"),
            (quote!(skip(a), skip(b)), "`skip` is given more than once"),
        ] {
            let error = TracedArgs::parse(tokens).err().unwrap().to_string();
            assert!(error.contains(message), "{error:?} lacks {message:?}");
        }
    }
}
