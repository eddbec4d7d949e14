//! What a span starts with: its name and its attributes.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::{FnArg, Ident, ItemFn, Pat};

use super::{args::TracedArgs, shape::is_method};

/// The arguments recorded as attributes, after checking `skip` names real ones.
pub(super) fn recorded_arguments(args: &TracedArgs, func: &ItemFn) -> syn::Result<Vec<Ident>> {
    let named: Vec<&Ident> = func
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(p) if p.ident != "self" => Some(&p.ident),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect();
    if let Some(missing) = args.skip.iter().find(|s| !named.contains(s)) {
        return Err(syn::Error::new(
            missing.span(),
            format!("`skip`: this function has no argument named `{missing}`"),
        ));
    }
    if args.skip_all {
        return Ok(Vec::new());
    }
    Ok(named
        .into_iter()
        .filter(|n| !args.skip.contains(n))
        .cloned()
        .collect())
}

/// `vec![KeyValue::new("arg", value), ...]`, or an empty `Vec` (no allocation).
pub(super) fn attributes(args: &TracedArgs, recorded: &[Ident]) -> TokenStream {
    let value = |span: Span, expr: TokenStream| quote_spanned!(span=> (&::o11y::__private::ArgValue(&#expr)).o11y_value());
    let mut pairs: Vec<TokenStream> = recorded
        .iter()
        .map(|ident| {
            let key = unraw(ident);
            let v = value(ident.span(), ident.to_token_stream());
            quote!(::o11y::__private::KeyValue::new(#key, #v))
        })
        .collect();
    pairs.extend(args.fields.iter().map(|field| {
        let key = &field.key;
        let expr = &field.value;
        let v = value(syn::spanned::Spanned::span(expr), quote!((#expr)));
        quote!(::o11y::__private::KeyValue::new(#key, #v))
    }));
    if pairs.is_empty() {
        return quote!(::std::vec::Vec::new());
    }
    quote! {{
        #[allow(unused_imports)]
        use ::o11y::__private::{ViaDebug as _, ViaNative as _};
        ::std::vec![#(#pairs),*]
    }}
}

/// `name = "..."`, else `Type::method` for methods, else `module::path::function`.
pub(super) fn span_name(args: &TracedArgs, func: &ItemFn) -> TokenStream {
    if let Some(name) = &args.name {
        return name.to_token_stream();
    }
    let function = unraw(&func.sig.ident);
    if is_method(func) {
        quote! {{
            static __O11Y_NAME: ::o11y::__private::MethodName = ::o11y::__private::MethodName::new();
            __O11Y_NAME.get(::core::any::type_name::<Self>(), #function)
        }}
    } else {
        quote!(::core::concat!(::core::module_path!(), "::", #function))
    }
}

fn unraw(ident: &Ident) -> String {
    let text = ident.to_string();
    text.strip_prefix("r#").map(str::to_owned).unwrap_or(text)
}
