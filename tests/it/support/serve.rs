//! The one HTTP/1.1 serving loop of the test stand-ins ([`super::ddb_model`],
//! [`super::sqs_fast`]): a current-thread runtime on its own thread, so a stand-in works
//! from any test runtime or from plain code, accepting until told to stop.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::Arc;

/// What stops a stand-in: send on (or drop) the sender, then join the thread.
pub type Serving = (
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
);

/// Serves `listener` on a thread named `name`, every request answered by
/// `handle(shared, request)`.
pub fn serve<S, F, Fut>(
    name: &str,
    listener: std::net::TcpListener,
    shared: Arc<S>,
    handle: F,
) -> std::io::Result<Serving>
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let label = name.to_owned();
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    eprintln!("{label}: cannot use the listener");
                    return;
                };
                loop {
                    let accepted = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => accepted,
                    };
                    let Ok((stream, _)) = accepted else { continue };
                    let (shared, handle) = (shared.clone(), handle.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let reply = handle(shared.clone(), req);
                            async move { Ok::<_, std::convert::Infallible>(reply.await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        })?;
    Ok((stop, thread))
}
