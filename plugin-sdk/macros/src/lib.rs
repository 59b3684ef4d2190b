//! Procedural macros of `krog-sdk`; use them through the re-exports in `krog_sdk`.

use proc_macro::TokenStream;
use quote::quote;
use syn::{ItemImpl, parse_macro_input, spanned::Spanned};

/// Marks the `impl krog_sdk::Plugin for MyPlugin { … }` block of a plugin and exports it:
/// the same as writing the impl followed by `krog_sdk::export!(MyPlugin);`.
///
/// ```ignore
/// #[krog_sdk::plugin]
/// impl krog_sdk::Plugin for MyPlugin { /* … */ }
/// ```
#[proc_macro_attribute]
pub fn plugin(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        let attr = proc_macro2::TokenStream::from(attr);
        return syn::Error::new(attr.span(), "#[krog_sdk::plugin] takes no arguments")
            .to_compile_error()
            .into();
    }
    let item_impl = parse_macro_input!(item as ItemImpl);
    let is_plugin = item_impl
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .is_some_and(|segment| segment.ident == "Plugin");
    if !is_plugin {
        return syn::Error::new(
            item_impl.span(),
            "#[krog_sdk::plugin] goes on an `impl krog_sdk::Plugin for MyPlugin` block",
        )
        .to_compile_error()
        .into();
    }
    if !item_impl.generics.params.is_empty() {
        return syn::Error::new(
            item_impl.generics.span(),
            "#[krog_sdk::plugin] cannot export a generic impl; use krog_sdk::export!(MyPlugin<..>)",
        )
        .to_compile_error()
        .into();
    }
    let self_ty = &item_impl.self_ty;
    quote! {
        #item_impl
        ::krog_sdk::export!(#self_ty);
    }
    .into()
}
