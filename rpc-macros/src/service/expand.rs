//! Step 4: write the trait back, then `{Trait}Server<T>` (a `tower::Service` over
//! `http::Request`), `{Trait}Client` and the service schema, all through `::arpc` paths.
//!
//! The trait keeps what the user wrote, with one documented change: an `async fn` is declared
//! as `fn ... -> impl Future<Output = ...> + Send`, so that servers can run handlers on a
//! multi-threaded runtime. Implementations still write `async fn`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemTrait, TraitItem};

use super::model::{Kind, Method, Model, Policy};

/// The trait with arpc's attributes removed (and nothing else changed): the fallback when
/// the macro reported errors.
pub(crate) fn trait_only(item: &ItemTrait) -> TokenStream {
    let mut item = item.clone();
    strip_attrs(&mut item);
    quote!(#item)
}

fn strip_attrs(item: &mut ItemTrait) {
    for trait_item in &mut item.items {
        if let TraitItem::Fn(f) = trait_item {
            f.attrs.retain(|a| !a.path().is_ident("arpc"));
        }
    }
}

/// The trait with `async fn` declared `Send`.
fn rewritten_trait(item: &ItemTrait) -> TokenStream {
    let mut item = item.clone();
    strip_attrs(&mut item);
    for trait_item in &mut item.items {
        let TraitItem::Fn(f) = trait_item else {
            continue;
        };
        if f.sig.asyncness.take().is_none() {
            continue;
        }
        let output = match &f.sig.output {
            syn::ReturnType::Type(_, ty) => quote!(#ty),
            syn::ReturnType::Default => quote!(()),
        };
        f.sig.output = syn::parse_quote_spanned! {output.span()=>
            -> impl ::core::future::Future<Output = #output> + ::core::marker::Send
        };
        if let Some(body) = f.default.take() {
            f.default = Some(syn::parse_quote!({ async move #body }));
        }
    }
    quote!(#item)
}

fn policy_tokens(policy: &Policy) -> TokenStream {
    match policy {
        Policy::Fixed(codec) => {
            let codec = format_ident!("{codec}");
            quote!(::arpc::codec::CodecPolicy::Fixed(::arpc::codec::CodecKind::#codec))
        }
        Policy::Auto => quote!(::arpc::codec::CodecPolicy::auto()),
        Policy::BySize {
            small,
            large,
            threshold,
        } => {
            let (small, large) = (format_ident!("{small}"), format_ident!("{large}"));
            quote!(::arpc::codec::CodecPolicy::BySize {
                small: ::arpc::codec::CodecKind::#small,
                large: ::arpc::codec::CodecKind::#large,
                threshold_bytes: #threshold,
            })
        }
    }
}

/// The compression and minimum size of a method that sets either.
fn compress_tokens(m: &Method<'_>) -> Option<(TokenStream, TokenStream)> {
    if m.compress.is_none() && m.compress_min_bytes.is_none() {
        return None;
    }
    let variant = format_ident!("{}", m.compress.unwrap_or("Identity"));
    let min = match m.compress_min_bytes {
        Some(n) => {
            let n = proc_macro2::Literal::u64_unsuffixed(n);
            quote!(#n)
        }
        None => quote!(::arpc::codec::DEFAULT_COMPRESS_MIN_BYTES),
    };
    Some((quote!(::arpc::codec::Compression::#variant), min))
}

pub(crate) fn expand(model: &Model<'_>) -> TokenStream {
    let trait_ident = model.trait_ident;
    let vis = model.vis;
    let server = format_ident!("{}Server", trait_ident);
    let client = format_ident!("{}Client", trait_ident);
    let full_name = model.full_name();
    let package = &model.package;
    let name = &model.name;
    let count = model.methods.len();
    let the_trait = rewritten_trait(model.item);
    let schema_fn = format_ident!("__arpc_{}_schema", trait_ident);

    let paths: Vec<String> = model
        .methods
        .iter()
        .map(|m| format!("/{full_name}/{}", m.grpc_name))
        .collect();
    let method_schemas = model
        .methods
        .iter()
        .zip(&paths)
        .map(|(m, path)| method_schema(m, path));
    let configs = model.methods.iter().map(|m| {
        let policy = policy_tokens(&m.policy);
        let deadline = match m.deadline_ms {
            Some(ms) => {
                quote!(::core::option::Option::Some(::std::time::Duration::from_millis(#ms)))
            }
            None => quote!(::core::option::Option::None),
        };
        let limit = m.max_message_bytes.map(|n| {
            let n = proc_macro2::Literal::u64_unsuffixed(n);
            quote!(.max_message_bytes(#n))
        });
        let compress = compress_tokens(m);
        let compress = compress.map(|(c, min)| quote!(.compression(#c).compress_min_bytes(#min)));
        quote!(::arpc::server::MethodConfig::with_policy(#policy).default_deadline(#deadline) #limit #compress)
    });
    let client_methods = model.methods.iter().zip(&paths).map(|(m, path)| {
        let policy = policy_tokens(&m.policy);
        let idempotent = m.idempotent;
        let compress = compress_tokens(m).map(|(c, min)| quote!(.compression(#c, #min)));
        quote!(::arpc::client::ClientMethod::new(#path, #policy).idempotent(#idempotent) #compress)
    });
    let arms = model
        .methods
        .iter()
        .zip(&paths)
        .enumerate()
        .map(|(i, (m, path))| server_arm(i, m, path));
    let client_fns = model
        .methods
        .iter()
        .enumerate()
        .map(|(i, m)| client_fn(i, m));
    let server_doc = format!(
        "The server of [`{trait_ident}`]: a `tower::Service<http::Request<_>>` serving \
         `{full_name}`. Mount it in `arpc::Server`, in tonic's `Routes` (it implements \
         tonic's `NamedService`), or in axum (`route_service(\"/{full_name}/{{*method}}\", …)`). \
         Outside `arpc::Server`, write handlers run on the process-wide \
         `BlockingPool::shared_default()` unless given one with `with_blocking_pool`."
    );
    let client_doc = format!(
        "A client of `{full_name}` ([`{trait_ident}`]). Cheap to clone; clones share the \
         connection."
    );

    quote! {
        #the_trait

        #[doc = #server_doc]
        #vis struct #server<T> {
            inner: ::std::sync::Arc<T>,
            methods: ::std::sync::Arc<[::arpc::server::MethodRuntime; #count]>,
            pool: ::core::option::Option<::arpc::server::BlockingPool>,
            price: ::core::option::Option<::arpc::codec::NetworkPrice>,
        }

        impl<T> ::core::clone::Clone for #server<T> {
            fn clone(&self) -> Self {
                Self {
                    inner: <::std::sync::Arc<T> as ::core::clone::Clone>::clone(&self.inner),
                    methods: ::core::clone::Clone::clone(&self.methods),
                    pool: ::core::clone::Clone::clone(&self.pool),
                    price: ::core::clone::Clone::clone(&self.price),
                }
            }
        }

        impl<T> ::core::fmt::Debug for #server<T> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(::core::stringify!(#server))
            }
        }

        impl<T: #trait_ident + ::core::marker::Send + ::core::marker::Sync + 'static> #server<T> {
            /// Serves `service`.
            pub fn new(service: T) -> Self {
                Self::from_arc(::std::sync::Arc::new(service))
            }

            /// Serves a shared `service`.
            pub fn from_arc(service: ::std::sync::Arc<T>) -> Self {
                let schema = Self::schema();
                let configs: [::arpc::server::MethodConfig; #count] = [#(#configs),*];
                let mut i = 0usize;
                let methods = configs.map(|config| {
                    let m = ::arpc::server::MethodRuntime::new(&schema.methods[i], config);
                    i += 1;
                    m
                });
                Self {
                    inner: service,
                    methods: ::std::sync::Arc::new(methods),
                    pool: ::core::option::Option::None,
                    price: ::core::option::Option::None,
                }
            }

            /// Runs write handlers on `pool` (by default: the server's, or a shared one).
            #[must_use]
            pub fn with_blocking_pool(mut self, pool: ::arpc::server::BlockingPool) -> Self {
                self.pool = ::core::option::Option::Some(pool);
                self
            }

            /// Weighs each byte of this service's `Auto` responses by `price` (shared: setting
            /// it re-ranks their choices at once); it wins over the server's
            /// `ServerBuilder::network_price` and the methods' `AutoConfig`.
            #[must_use]
            pub fn with_network_price(mut self, price: ::arpc::codec::NetworkPrice) -> Self {
                self.__arpc_apply_price(&price);
                self.price = ::core::option::Option::Some(price);
                self
            }

            fn __arpc_apply_price(&mut self, price: &::arpc::codec::NetworkPrice) {
                let methods: [::arpc::server::MethodRuntime; #count] = ::core::array::from_fn(|i| {
                    self.methods[i].priced(::core::clone::Clone::clone(price))
                });
                self.methods = ::std::sync::Arc::new(methods);
            }

            /// Sets the largest request every method of this service accepts (larger ones
            /// are answered `RESOURCE_EXHAUSTED`); it replaces the server-wide limit and the
            /// methods' own.
            #[must_use]
            pub fn max_request_bytes(mut self, limit: usize) -> Self {
                let methods: [::arpc::server::MethodRuntime; #count] = ::core::array::from_fn(|i| {
                    self.methods[i].with_limits(::core::option::Option::Some(limit), ::core::option::Option::None)
                });
                self.methods = ::std::sync::Arc::new(methods);
                self
            }

            /// Sets the largest response every method of this service sends (a larger one is
            /// answered `RESOURCE_EXHAUSTED`); it replaces the server-wide limit and the
            /// methods' own.
            #[must_use]
            pub fn max_response_bytes(mut self, limit: usize) -> Self {
                let methods: [::arpc::server::MethodRuntime; #count] = ::core::array::from_fn(|i| {
                    self.methods[i].with_limits(::core::option::Option::None, ::core::option::Option::Some(limit))
                });
                self.methods = ::std::sync::Arc::new(methods);
                self
            }

            /// The service's schema.
            pub fn schema() -> &'static ::arpc::schema::ServiceSchema {
                #schema_fn()
            }

            fn pool(&self) -> ::arpc::server::BlockingPool {
                match &self.pool {
                    ::core::option::Option::Some(pool) => ::core::clone::Clone::clone(pool),
                    ::core::option::Option::None => ::arpc::server::BlockingPool::shared_default(),
                }
            }
        }

        impl<T, B> ::arpc::__private::tower::Service<::arpc::__private::http::Request<B>> for #server<T>
        where
            T: #trait_ident + ::core::marker::Send + ::core::marker::Sync + 'static,
            B: ::arpc::__private::http_body::Body<Data = ::arpc::__private::bytes::Bytes>
                + ::core::marker::Send
                + 'static,
            B::Error: ::core::fmt::Display,
        {
            type Response = ::arpc::__private::http::Response<::arpc::wire::UnaryBody>;
            type Error = ::core::convert::Infallible;
            type Future = ::arpc::__private::BoxFuture<
                'static,
                ::core::result::Result<Self::Response, ::core::convert::Infallible>,
            >;

            fn poll_ready(
                &mut self,
                _: &mut ::core::task::Context<'_>,
            ) -> ::core::task::Poll<::core::result::Result<(), ::core::convert::Infallible>> {
                ::core::task::Poll::Ready(::core::result::Result::Ok(()))
            }

            fn call(&mut self, request: ::arpc::__private::http::Request<B>) -> Self::Future {
                let inner = <::std::sync::Arc<T> as ::core::clone::Clone>::clone(&self.inner);
                let methods = ::core::clone::Clone::clone(&self.methods);
                match request.uri().path() {
                    #(#arms)*
                    path => {
                        let response = ::arpc::server::unimplemented(path);
                        ::std::boxed::Box::pin(async move { ::core::result::Result::Ok(response) })
                    }
                }
            }
        }

        impl<T: #trait_ident + ::core::marker::Send + ::core::marker::Sync + 'static> ::arpc::server::Service for #server<T> {
            fn schema() -> &'static ::arpc::schema::ServiceSchema {
                #schema_fn()
            }

            fn set_blocking_pool(&mut self, pool: ::arpc::server::BlockingPool) {
                if self.pool.is_none() {
                    self.pool = ::core::option::Option::Some(pool);
                }
            }

            fn set_network_price(&mut self, price: ::arpc::codec::NetworkPrice) {
                if self.price.is_none() {
                    self.__arpc_apply_price(&price);
                }
            }
        }

        impl<T> ::arpc::__private::tonic::server::NamedService for #server<T> {
            const NAME: &'static str = #full_name;
        }

        #[doc = #client_doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #client<S = ::arpc::Channel> {
            transport: S,
            methods: ::std::sync::Arc<[::arpc::client::ClientMethod; #count]>,
        }

        impl #client {
            /// A client over `channel`.
            pub fn new(channel: ::arpc::Channel) -> Self {
                // `Auto` methods weigh bytes at the channel's network price, if it has one.
                let methods = Self::__arpc_methods(channel.network_price());
                Self {
                    transport: channel,
                    methods: ::std::sync::Arc::new(methods),
                }
            }

            /// Connects to `uri` (`http://host:port`).
            pub async fn connect(
                uri: impl ::core::convert::Into<::std::string::String>,
            ) -> ::core::result::Result<Self, ::arpc::client::ConnectError> {
                ::arpc::Channel::connect(uri).await.map(Self::new)
            }

            /// A client of the instances `registry` discovers under this service's full name,
            /// balanced, with failover (see `arpc::Channel::discover`).
            pub fn discover<D: ::arpc::registry::Discovery + ?::core::marker::Sized>(
                registry: &D,
            ) -> Self {
                Self::new(::arpc::Channel::discover(registry, #schema_fn().full_name))
            }

            /// The service's schema.
            pub fn schema() -> &'static ::arpc::schema::ServiceSchema {
                #schema_fn()
            }

            /// The channel calls go through.
            pub fn channel(&self) -> &::arpc::Channel {
                &self.transport
            }
        }

        impl<S> #client<S> {
            /// A client over `transport`: a channel in tower layers, or any
            /// `tower::Service<arpc::client::CallRequest>` (see `arpc::client::Transport`).
            pub fn with_transport(transport: S) -> Self {
                Self {
                    transport,
                    methods: ::std::sync::Arc::new(Self::__arpc_methods(::core::option::Option::None)),
                }
            }

            /// This client with its `Auto` methods weighing bytes at `price` (shared: setting
            /// it later re-ranks their choices).
            pub fn with_network_price(self, price: ::arpc::codec::NetworkPrice) -> Self {
                Self {
                    transport: self.transport,
                    methods: ::std::sync::Arc::new(Self::__arpc_methods(::core::option::Option::Some(&price))),
                }
            }

            /// The client-side settings of each method, in declaration order (their codec
            /// selectors hold `Auto`'s estimates).
            pub fn methods(&self) -> &[::arpc::client::ClientMethod] {
                &self.methods[..]
            }

            fn __arpc_methods(
                price: ::core::option::Option<&::arpc::codec::NetworkPrice>,
            ) -> [::arpc::client::ClientMethod; #count] {
                [#({
                    let method = #client_methods;
                    match price {
                        ::core::option::Option::Some(price) => method.priced(::core::clone::Clone::clone(price)),
                        ::core::option::Option::None => method,
                    }
                }),*]
            }

            /// This client with its transport wrapped in `layer` (a tower layer: an
            /// interceptor, authentication, a rate limit...). Every call goes through it.
            pub fn layer<L: ::arpc::__private::tower::Layer<S>>(self, layer: L) -> #client<L::Service> {
                #client {
                    transport: layer.layer(self.transport),
                    methods: self.methods,
                }
            }

            /// The transport calls go through.
            pub fn transport(&self) -> &S {
                &self.transport
            }
        }

        impl<S: ::arpc::client::Transport> #client<S> {
            #(#client_fns)*
        }

        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn #schema_fn() -> &'static ::arpc::schema::ServiceSchema {
            static SCHEMA: ::arpc::schema::ServiceSchema = ::arpc::schema::ServiceSchema::new(
                #package,
                #name,
                #full_name,
                &[#(#method_schemas),*],
            );
            &SCHEMA
        }
    }
}

fn method_schema(m: &Method<'_>, path: &str) -> TokenStream {
    let grpc = &m.grpc_name;
    let rust = m.ident.to_string();
    let (req, resp) = (m.request, m.response);
    let kind = match m.kind {
        Kind::Read => quote!(::arpc::schema::MethodKind::Read),
        Kind::Write => quote!(::arpc::schema::MethodKind::Write),
    };
    let idempotent = m.idempotent;
    let req_schema = quote_spanned!(req.span()=> <#req as ::arpc::Message>::schema);
    let resp_schema = quote_spanned!(resp.span()=> <#resp as ::arpc::Message>::schema);
    quote!(::arpc::schema::MethodSchema::new(
        #grpc, #rust, #path, #req_schema, #resp_schema, #kind, #idempotent
    ))
}

fn server_arm(i: usize, m: &Method<'_>, path: &str) -> TokenStream {
    let ident = m.ident;
    let req = m.request;
    match m.kind {
        Kind::Read => quote_spanned! {req.span()=>
            #path => ::std::boxed::Box::pin(async move {
                ::core::result::Result::Ok(
                    ::arpc::server::unary_async(&methods[#i], request, |r: #req| inner.#ident(r)).await,
                )
            }),
        },
        Kind::Write => quote_spanned! {req.span()=>
            #path => {
                let pool = self.pool();
                ::std::boxed::Box::pin(async move {
                    ::core::result::Result::Ok(
                        ::arpc::server::unary_blocking(&methods[#i], &pool, request, move |r: #req| inner.#ident(r)).await,
                    )
                })
            }
        },
    }
}

fn client_fn(i: usize, m: &Method<'_>) -> TokenStream {
    let ident = m.ident;
    let with = format_ident!("{}_with", ident);
    let (req, resp) = (m.request, m.response);
    let doc = format!("Calls `{}`.", m.grpc_name);
    let call = quote_spanned! {req.span()=>
        ::arpc::client::unary(&self.transport, &self.methods[#i], &request, options).await
    };
    let doc_with = format!(
        "Calls `{}` with per-call options (deadline, codec, metadata); the response says which \
         codecs were used.",
        m.grpc_name
    );
    quote! {
        #[doc = #doc]
        pub async fn #ident(&self, request: #req) -> ::core::result::Result<#resp, ::arpc::Status> {
            self.#with(request, ::core::default::Default::default())
                .await
                .map(|r| r.message)
        }

        #[doc = #doc_with]
        pub async fn #with(
            &self,
            request: #req,
            options: ::arpc::CallOptions,
        ) -> ::core::result::Result<::arpc::client::Response<#resp>, ::arpc::Status> {
            #call
        }
    }
}
