//! Many futures awaited together, their outputs in order: a user's
//! revocations and a cluster listing send every request at once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Awaits every future of `futures` together; their outputs in order.
pub(crate) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx: &mut Context<'_>| {
        let mut ready = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => ready = false,
                }
            }
        }
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_all_keeps_the_order_of_its_futures() {
        let slow = async {
            tokio::task::yield_now().await;
            1
        };
        let fast = async { 2 };
        let outputs = join_all(vec![
            Box::pin(slow) as Pin<Box<dyn Future<Output = i32>>>,
            Box::pin(fast),
        ])
        .await;
        assert_eq!(outputs, [1, 2]);
        assert!(
            join_all(Vec::<std::future::Ready<()>>::new())
                .await
                .is_empty()
        );
    }
}
