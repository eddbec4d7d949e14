//! `#[traced]`: options in `args`, name and attributes in `start`, signature
//! inspection in `shape`, the expansion here.
//!
//! Every shape becomes: start a `TracedSpan` (attributes from the arguments),
//! run the original body with the span's context current, inspect the return
//! value for an `Err`, end the span on drop.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::{Block, Expr, ExprAsync, ItemFn, ReturnType, Stmt, Type, visit_mut::VisitMut};

use crate::attr::error_with_item;

mod args;
mod shape;
mod start;

use args::TracedArgs;
use shape::{InferImplTrait, future_output, is_pin, output_hint};
use start::{attributes, recorded_arguments, span_name};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let e = syn::Error::new(
                Span::call_site(),
                "`#[o11y::traced]` goes on a function or method with a body",
            );
            return error_with_item(&e, item);
        }
    };
    match TracedArgs::parse(args).and_then(|args| Expansion::new(args, &func)) {
        Ok(expansion) => expansion.into_tokens(func),
        Err(e) => error_with_item(&e, item),
    }
}

/// What every shape of function shares.
struct Expansion {
    name: TokenStream,
    kind: TokenStream,
    attributes: TokenStream,
}

impl Expansion {
    fn new(args: TracedArgs, func: &ItemFn) -> syn::Result<Self> {
        if let Some(constness) = &func.sig.constness {
            return Err(syn::Error::new_spanned(
                constness,
                "`#[o11y::traced]` cannot trace a `const fn`",
            ));
        }
        let recorded = recorded_arguments(&args, func)?;
        Ok(Self {
            name: span_name(&args, func),
            kind: args
                .kind
                .clone()
                .unwrap_or_else(|| quote!(::o11y::__private::SpanKind::Internal)),
            attributes: attributes(&args, &recorded),
        })
    }

    fn into_tokens(self, func: ItemFn) -> TokenStream {
        let ItemFn {
            attrs,
            vis,
            sig,
            block,
        } = func;
        let body = if sig.asyncness.is_some() {
            self.async_body(&block, output_hint(&sig.output))
        } else if let Some(body) = self.boxed_future_body(&block, &sig.output) {
            body
        } else {
            self.sync_body(&block, output_hint(&sig.output))
        };
        quote! {
            #(#attrs)*
            #vis #sig {
                #body
            }
        }
    }

    fn start(&self, attributes: &TokenStream) -> TokenStream {
        let Self { name, kind, .. } = self;
        quote! {
            // `needless_borrow` would break the autoref dispatch of `ArgValue`.
            #[allow(clippy::used_underscore_binding, clippy::needless_borrow)]
            let __o11y_span = ::o11y::__private::TracedSpan::start(#name, #kind, #attributes);
        }
    }

    fn sync_body(&self, block: &Block, hint: Option<Type>) -> TokenStream {
        let start = self.start(&self.attributes);
        let Some(hint) = hint else {
            return quote! {
                #start
                let __o11y_entered = __o11y_span.enter();
                #block
            };
        };
        let record = record_outcome();
        quote! {
            #start
            let __o11y_entered = __o11y_span.enter();
            #[allow(clippy::redundant_closure_call)]
            let __o11y_ret: #hint = ::o11y::__private::call_once(move || #block);
            ::core::mem::drop(__o11y_entered);
            #record
            __o11y_ret
        }
    }

    fn async_body(&self, block: &Block, hint: Option<Type>) -> TokenStream {
        let start = self.start(&self.attributes);
        let future = quote!(async move #block);
        self.instrumented(&start, &future, hint)
    }

    /// `fn f() -> Pin<Box<dyn Future<Output = T> + ...>> { Box::pin(async move {...}) }`
    /// (what `#[async_trait]` makes) or `-> impl Future { async move {...} }`:
    /// the span covers the returned future.
    fn boxed_future_body(&self, block: &Block, output: &ReturnType) -> Option<TokenStream> {
        let ReturnType::Type(_, ty) = output else {
            return None;
        };
        let mut hint = future_output(ty)?;
        InferImplTrait.visit_type_mut(&mut hint);
        let (last, rest) = block.stmts.split_last()?;
        let Stmt::Expr(tail, None) = last else {
            return None;
        };
        let attributes = &self.attributes;
        let start = self.start(&quote!(__o11y_attributes));
        let wrap = |future: &ExprAsync| {
            let inner = self.instrumented(&start, &future.to_token_stream(), Some(hint.clone()));
            quote!(async move { #inner })
        };
        let tail = match tail {
            Expr::Async(future) => wrap(future),
            Expr::Call(call) if call.args.len() == 1 && is_pin(&call.func) => {
                let Some(Expr::Async(future)) = call.args.first() else {
                    return None;
                };
                let func = &call.func;
                let wrapped = wrap(future);
                quote!(#func(#wrapped))
            }
            _ => return None,
        };
        Some(quote! {
            #[allow(clippy::needless_borrow)]
            let __o11y_attributes = #attributes;
            #(#rest)*
            #tail
        })
    }

    /// Runs `future` with the span's context attached on every poll.
    fn instrumented(
        &self,
        start: &TokenStream,
        future: &TokenStream,
        hint: Option<Type>,
    ) -> TokenStream {
        let run = quote! {
            ::o11y::__private::FutureExt::with_context(#future, __o11y_span.context()).await
        };
        let Some(hint) = hint else {
            return quote! { #start #run };
        };
        let record = record_outcome();
        quote! {
            #start
            let __o11y_ret: #hint = #run;
            #record
            __o11y_ret
        }
    }
}

/// Inspects `__o11y_ret` for an `Err` (see `o11y::__private::Outcome`).
fn record_outcome() -> TokenStream {
    quote! {
        {
            #[allow(unused_imports)]
            use ::o11y::__private::{ErrAny as _, ErrDebug as _, ErrDisplay as _, NotResult as _};
            #[allow(clippy::needless_borrow)]
            (&&&&::o11y::__private::Outcome(&__o11y_ret)).o11y_record(&__o11y_span);
        }
    }
}
