//! What the signature and body look like: the return type for the `let`
//! that holds the outcome, the output of a returned future, whether `Self`
//! exists.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::{
    Expr, GenericArgument, ItemFn, PathArguments, ReturnType, Type, TypeParamBound,
    visit_mut::VisitMut,
};

/// A receiver, or `Self` anywhere in the signature, means `Self` exists.
pub(super) fn is_method(func: &ItemFn) -> bool {
    fn mentions_self(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            TokenTree::Ident(i) => i == "Self",
            TokenTree::Group(g) => mentions_self(g.stream()),
            _ => false,
        })
    }
    func.sig.receiver().is_some() || mentions_self(func.sig.to_token_stream())
}

/// The return type for a `let` annotation (`impl Trait` becomes `_`); `None`
/// for `()` and `!`, which have no outcome to inspect.
pub(super) fn output_hint(output: &ReturnType) -> Option<Type> {
    match output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => match &**ty {
            Type::Tuple(t) if t.elems.is_empty() => None,
            // `let x: ! = ...` is unstable; a diverging body has no outcome anyway.
            Type::Never(_) => None,
            ty => {
                let mut ty = ty.clone();
                InferImplTrait.visit_type_mut(&mut ty);
                Some(ty)
            }
        },
    }
}

pub(super) struct InferImplTrait;

impl VisitMut for InferImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(_) = ty {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: Default::default(),
            });
        } else {
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
}

/// `T` in `Pin<Box<dyn Future<Output = T> + Send>>` or `impl Future<Output = T>`.
pub(super) fn future_output(ty: &Type) -> Option<Type> {
    let bounds = match ty {
        Type::Path(p) => {
            let last = p.path.segments.last()?;
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            return args.args.iter().find_map(|arg| match arg {
                GenericArgument::Type(inner) => future_output(inner),
                _ => None,
            });
        }
        Type::TraitObject(t) => &t.bounds,
        Type::ImplTrait(t) => &t.bounds,
        Type::Paren(p) => return future_output(&p.elem),
        Type::Group(g) => return future_output(&g.elem),
        _ => return None,
    };
    bounds.iter().find_map(|bound| {
        let TypeParamBound::Trait(trait_bound) = bound else {
            return None;
        };
        let last = trait_bound.path.segments.last()?;
        if last.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        args.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(assoc.ty.clone()),
            _ => None,
        })
    })
}

/// `Box::pin`, `std::boxed::Box::pin`, `pin`.
pub(super) fn is_pin(func: &Expr) -> bool {
    matches!(func, Expr::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "pin"))
}

#[cfg(test)]
mod tests {
    use quote::ToTokens;
    use syn::parse_quote;

    use super::*;

    fn text(ty: Option<Type>) -> Option<String> {
        ty.map(|t| t.to_token_stream().to_string())
    }

    #[test]
    fn hints_replace_impl_trait_and_skip_unit_and_never() {
        let hint = output_hint(&parse_quote!(-> Result<impl Iterator<Item = u8>, E>));
        assert_eq!(text(hint).as_deref(), Some("Result < _ , E >"));
        assert!(output_hint(&parse_quote!(-> ())).is_none());
        assert!(output_hint(&parse_quote!(-> !)).is_none());
        assert!(output_hint(&ReturnType::Default).is_none());
    }

    #[test]
    fn finds_the_output_of_boxed_and_impl_futures() {
        let boxed: Type = parse_quote!(
            ::core::pin::Pin<
                Box<dyn ::core::future::Future<Output = Result<u8, E>> + Send + 'async_trait>,
            >
        );
        assert_eq!(
            text(future_output(&boxed)).as_deref(),
            Some("Result < u8 , E >")
        );
        let opaque: Type = parse_quote!(impl Future<Output = u8> + Send);
        assert_eq!(text(future_output(&opaque)).as_deref(), Some("u8"));
        assert!(future_output(&parse_quote!(Vec<u8>)).is_none());
    }

    #[test]
    fn self_in_the_signature_makes_a_method() {
        assert!(is_method(&parse_quote!(
            fn f(&self) {}
        )));
        assert!(is_method(&parse_quote!(
            fn new() -> Self {
                todo!()
            }
        )));
        assert!(is_method(&parse_quote!(
            fn get(v: Vec<Self>) {}
        )));
        assert!(!is_method(&parse_quote!(
            fn free(x: u8) {}
        )));
    }
}
