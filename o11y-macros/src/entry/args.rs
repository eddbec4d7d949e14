//! The options of `#[o11y::main(...)]`.

use proc_macro2::TokenStream;
use syn::{Expr, LitInt, LitStr, Path, Result};

use crate::attr::{Opt, set_once, unknown};

const OPTIONS: &[&str] = &[
    "service",
    "version",
    "environment",
    "shutdown_timeout_ms",
    "builder",
    "flavor",
    "worker_threads",
];

/// The runtime flavour.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    MultiThread,
    CurrentThread,
}

/// `#[o11y::main(...)]` as parsed and checked.
#[derive(Default)]
pub(crate) struct MainArgs {
    pub(crate) service: Option<Expr>,
    pub(crate) version: Option<Expr>,
    pub(crate) environment: Option<Expr>,
    pub(crate) shutdown_timeout_ms: Option<LitInt>,
    pub(crate) builder: Option<Path>,
    pub(crate) flavor: Option<Flavor>,
    pub(crate) worker_threads: Option<LitInt>,
}

impl MainArgs {
    pub(crate) fn parse(args: TokenStream) -> Result<Self> {
        let mut out = Self::default();
        let mut flavor_token: Option<LitStr> = None;
        for opt in Opt::parse_all(args)? {
            let name = &opt.name;
            match name.to_string().as_str() {
                "service" => set_once(&mut out.service, opt.expr()?, name)?,
                "version" => set_once(&mut out.version, opt.expr()?, name)?,
                "environment" => set_once(&mut out.environment, opt.expr()?, name)?,
                "shutdown_timeout_ms" => {
                    set_once(&mut out.shutdown_timeout_ms, positive(&opt)?, name)?;
                }
                "builder" => set_once(&mut out.builder, path(&opt)?, name)?,
                "worker_threads" => set_once(&mut out.worker_threads, positive(&opt)?, name)?,
                "flavor" => {
                    let lit = opt.lit_str()?;
                    let flavor = match lit.value().as_str() {
                        "multi_thread" => Flavor::MultiThread,
                        "current_thread" => Flavor::CurrentThread,
                        _ => {
                            return Err(syn::Error::new(
                                lit.span(),
                                "unknown flavor; expected \"multi_thread\" or \"current_thread\"",
                            ));
                        }
                    };
                    set_once(&mut out.flavor, flavor, name)?;
                    flavor_token = Some(lit);
                }
                _ => return Err(unknown(name, OPTIONS)),
            }
        }
        if let (Some(Flavor::CurrentThread), Some(threads)) = (out.flavor, &out.worker_threads) {
            return Err(syn::Error::new(
                threads.span(),
                "`worker_threads` needs the \"multi_thread\" flavor",
            ));
        }
        drop(flavor_token);
        Ok(out)
    }
}

fn positive(opt: &Opt) -> Result<LitInt> {
    let lit = opt.lit_int()?;
    match lit.base10_parse::<u64>() {
        Ok(n) if n > 0 => Ok(lit),
        _ => Err(syn::Error::new(lit.span(), "expected a positive integer")),
    }
}

fn path(opt: &Opt) -> Result<Path> {
    match opt.expr()? {
        Expr::Path(p) => Ok(p.path),
        other => Err(syn::Error::new_spanned(
            other,
            "`builder` expects the path of a `fn(o11y::Builder) -> o11y::Builder`",
        )),
    }
}
