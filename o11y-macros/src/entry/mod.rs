//! `#[o11y::main]`: parsing in `args`, the expansion here.
//!
//! ```text
//! fn main() -> R {
//!     let guard = o11y::__private::start_main(o11y::builder(service)...); // telemetry first
//!     let timeout = o11y::__private::shutdown_timeout(&guard);
//!     let runtime = MainRuntime::new(tokio::runtime::Builder::new_multi_thread().enable_all().build(), timeout);
//!     // the body, until it returns or SIGTERM/SIGINT stops it; one deadline starts then
//!     let ended = runtime.block_on(o11y::__private::run_main(async move { body }, timeout));
//!     runtime.shutdown(ended.runtime_timeout()); // tasks still running end their spans
//!     ended.finish(guard) // flush within the deadline, then the output (or exit 128 + signal)
//! } // a panic drops the runtime (a bounded wait too), then the guard, which flushes
//! ```

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemFn, ReturnType, Type};

use crate::attr::error_with_item;

mod args;

use args::{Flavor, MainArgs};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => func,
        Err(e) => return error_with_item(&e, item),
    };
    match MainArgs::parse(args).and_then(|args| check(&func).map(|()| args)) {
        Ok(args) => expansion(&args, func),
        Err(e) => error_with_item(&e, stub(func)),
    }
}

fn check(func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            sig.fn_token,
            "`#[o11y::main]` needs an `async fn`",
        ));
    }
    if let Some(arg) = sig.inputs.first() {
        return Err(syn::Error::new_spanned(
            arg,
            "`#[o11y::main]` functions take no arguments",
        ));
    }
    if let Some(param) = sig.generics.params.first() {
        return Err(syn::Error::new_spanned(
            param,
            "`#[o11y::main]` functions cannot be generic",
        ));
    }
    Ok(())
}

/// The function without `async`, arguments, generics or body, so that the
/// one error reported is ours.
fn stub(mut func: ItemFn) -> TokenStream {
    func.sig.asyncness = None;
    func.sig.inputs.clear();
    func.sig.generics = syn::Generics::default();
    let block = quote!({ ::core::unimplemented!() });
    *func.block = syn::parse_quote!(#block);
    quote!(#func)
}

fn expansion(args: &MainArgs, func: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = func;
    sig.asyncness = None;
    let output: Type = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let builder = builder(args);
    let runtime = runtime(args);
    quote! {
        #(#attrs)*
        #vis #sig {
            let __o11y_guard = ::o11y::__private::start_main(#builder);
            let __o11y_timeout = ::o11y::__private::shutdown_timeout(&__o11y_guard);
            let __o11y_body = async move #block;
            #[allow(clippy::expect_used)]
            let __o11y_runtime = ::o11y::__private::MainRuntime::new(
                #runtime
                    .enable_all()
                    .build()
                    .expect("#[o11y::main]: building the tokio runtime failed"),
                __o11y_timeout,
            );
            let __o11y_ended = __o11y_runtime.block_on(::o11y::__private::run_main(
                __o11y_body,
                __o11y_timeout,
            ));
            __o11y_runtime.shutdown(__o11y_ended.runtime_timeout());
            let __o11y_out: #output = __o11y_ended.finish(__o11y_guard);
            __o11y_out
        }
    }
}

fn builder(args: &MainArgs) -> TokenStream {
    let service = args
        .service
        .as_ref()
        .map_or_else(|| quote!(::core::env!("CARGO_PKG_NAME")), |s| quote!(#s));
    let mut builder = quote!(::o11y::builder(#service));
    if let Some(version) = &args.version {
        builder = quote!(#builder.version(#version));
    }
    if let Some(environment) = &args.environment {
        builder = quote!(#builder.environment(#environment));
    }
    if let Some(ms) = &args.shutdown_timeout_ms {
        builder = quote!(#builder.shutdown_timeout(::core::time::Duration::from_millis(#ms)));
    }
    if let Some(path) = &args.builder {
        builder = quote!(#path(#builder));
    }
    builder
}

fn runtime(args: &MainArgs) -> TokenStream {
    match args.flavor.unwrap_or(Flavor::MultiThread) {
        Flavor::CurrentThread => quote!(::tokio::runtime::Builder::new_current_thread()),
        Flavor::MultiThread => {
            let threads = args
                .worker_threads
                .as_ref()
                .map(|n| quote!(.worker_threads(#n)));
            quote!(::tokio::runtime::Builder::new_multi_thread() #threads)
        }
    }
}
