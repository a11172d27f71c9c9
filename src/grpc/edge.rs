//! The tower layer at the edge of every gRPC call: load shedding, per-method metrics by
//! status code, and the API's status for oversized messages.
//!
//! It sits below tonic's routing, on plain HTTP, so it sees every call — including those
//! tonic fails before a handler runs (undecodable or oversized requests).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Code, Status};
use tower::{Layer, Service};

use super::status::is_message_too_large;
use crate::telemetry;

/// Calls never shed: probes and tooling must work under load.
const NEVER_SHED: &[&str] = &["/grpc.health.v1.Health/", "/grpc.reflection."];

#[derive(Clone, Debug)]
pub struct EdgeLayer {
    in_flight: Arc<Semaphore>,
    limit: usize,
}

impl EdgeLayer {
    /// `max_in_flight`: calls in progress (until their response head) across all
    /// connections before new ones are refused with `UNAVAILABLE`.
    pub fn new(max_in_flight: usize) -> Self {
        EdgeLayer {
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            limit: max_in_flight,
        }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Edge {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Edge<S> {
    inner: S,
    layer: EdgeLayer,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for Edge<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = http::Response<EdgeBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let method = req.uri().path().to_owned();
        let start = Instant::now();
        let permit = if NEVER_SHED.iter().any(|p| method.starts_with(p)) {
            None
        } else {
            match self.layer.in_flight.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    telemetry::record_shed(&method);
                    let status = Status::unavailable(format!(
                        "server overloaded: {} calls in flight (--max-in-flight {}); retry with backoff",
                        self.layer.limit, self.layer.limit
                    ));
                    telemetry::record_rpc(&method, Code::Unavailable, start.elapsed());
                    return Box::pin(std::future::ready(Ok(status.into_http())));
                }
            }
        };
        // The service that was polled ready goes into the future; a fresh clone stays.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(req).await?;
            drop::<Option<OwnedSemaphorePermit>>(permit);
            let (mut parts, body) = response.into_parts();
            let mut observer = Observer {
                method,
                start,
                done: false,
            };
            // A trailers-only response (every error tonic raises before a handler runs)
            // carries its status in the head.
            if observer.finish(&mut parts.headers) {
                return Ok(http::Response::from_parts(
                    parts,
                    EdgeBody {
                        inner: Some(body),
                        observer: None,
                    },
                ));
            }
            Ok(http::Response::from_parts(
                parts,
                EdgeBody {
                    inner: Some(body),
                    observer: Some(observer),
                },
            ))
        })
    }
}

/// Records a call once, when its status is known.
struct Observer {
    method: String,
    start: Instant,
    done: bool,
}

impl Observer {
    /// Records the call if `headers` carry a `grpc-status`, first rewriting an oversized
    /// message's `OUT_OF_RANGE` into the API's `RESOURCE_EXHAUSTED`. True when recorded.
    fn finish(&mut self, headers: &mut HeaderMap) -> bool {
        let Some(status) = Status::from_header_map(headers) else {
            return false;
        };
        let code = if is_message_too_large(status.code(), status.message()) {
            let rewritten = super::status::message_too_large(status.message());
            if rewritten.add_header(headers).is_err() {
                headers.insert(
                    "grpc-status",
                    HeaderValue::from(Code::ResourceExhausted as i32),
                );
            }
            Code::ResourceExhausted
        } else {
            status.code()
        };
        telemetry::record_rpc(&self.method, code, self.start.elapsed());
        self.done = true;
        true
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        if !self.done {
            // The body ended without trailers: the client went away mid-call.
            telemetry::record_rpc(&self.method, Code::Cancelled, self.start.elapsed());
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that reports the call's status when its trailers pass by.
    pub struct EdgeBody<B> {
        #[pin]
        inner: Option<B>,
        observer: Option<Observer>,
    }
}

impl<B> Default for EdgeBody<B> {
    fn default() -> Self {
        EdgeBody {
            inner: None,
            observer: None,
        }
    }
}

impl<B: Body> Body for EdgeBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(None);
        };
        match inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_trailers() {
                Ok(mut trailers) => {
                    if let Some(mut observer) = this.observer.take() {
                        observer.finish(&mut trailers);
                    }
                    Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| http_body::SizeHint::with_exact(0), Body::size_hint)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tokio::sync::oneshot;
    use tower::ServiceExt;

    use super::*;

    fn grpc_code(headers: &HeaderMap) -> Option<Code> {
        Status::from_header_map(headers).map(|s| s.code())
    }

    /// A call in flight holds its slot; the next one beyond the limit is shed with
    /// UNAVAILABLE at once, while health checks still pass.
    #[tokio::test]
    async fn sheds_beyond_the_limit_but_never_health() {
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let release = Arc::new(tokio::sync::Mutex::new(Some(release_rx)));
        let inner = tower::service_fn(move |_req: http::Request<()>| {
            let release = release.clone();
            async move {
                let first = release.lock().await.take();
                if let Some(rx) = first {
                    let _ = rx.await;
                }
                Ok::<_, Infallible>(http::Response::new(
                    http_body_util::Empty::<bytes::Bytes>::new(),
                ))
            }
        });
        let service = EdgeLayer::new(1).layer(inner);
        let request = |path: &str| {
            http::Request::builder()
                .uri(path)
                .body(())
                .expect("request")
        };

        let slow = tokio::spawn(
            service
                .clone()
                .oneshot(request("/dsched.v1.Inventory/ListNodes")),
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;

        let shed = service
            .clone()
            .oneshot(request("/dsched.v1.Inventory/GetNode"))
            .await
            .expect("response");
        assert_eq!(grpc_code(shed.headers()), Some(Code::Unavailable));
        let message = Status::from_header_map(shed.headers()).expect("status");
        assert!(
            message.message().contains("--max-in-flight 1"),
            "{message:?}"
        );

        let health = service
            .clone()
            .oneshot(request("/grpc.health.v1.Health/Check"))
            .await
            .expect("response");
        assert_eq!(grpc_code(health.headers()), None, "health is never shed");

        release_tx.send(()).expect("release");
        slow.await.expect("join").expect("slow call completes");
        let after = service
            .oneshot(request("/dsched.v1.Inventory/GetNode"))
            .await
            .expect("response");
        assert_eq!(grpc_code(after.headers()), None, "the slot is free again");
    }
}
