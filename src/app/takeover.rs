//! A rule task under a lease (replicas sharing rules): before an evaluation, the task
//! checks this replica still holds the rule's lease; when it holds it under a token its
//! state was not built for (it took the rule over), it resumes from what the last holder
//! committed — alerts, baselines, flap records — warming from the source what was never
//! stored, so it sends nothing already sent and forgets nothing learnt.

use std::sync::Arc;

use crate::app::evaluator::{EvalResult, Evaluator, RuleTask};
use crate::app::leases::Gate;
use crate::engine::evaluate::RuleRuntime;
use crate::notify::pipeline::intake::Intake;
use crate::store::Fence;

/// Whether the evaluation runs, and under which fence: `Ok(None)` unfenced (leases off),
/// `Ok(Some(fence))` under a held lease (the task's state now matches its token),
/// `Err(result)` not here (not held, or the takeover could not read the store).
pub async fn gate(evaluator: &Evaluator, task: &mut RuleTask) -> Result<Option<Fence>, EvalResult> {
    let rule = Arc::clone(&task.runtime.rule);
    match evaluator.leases.gate(&rule.name) {
        Gate::Unfenced => Ok(None),
        Gate::NotHeld => {
            if task.lease_token.take().is_some() {
                // Another replica evaluates it now: what this one held is stale.
                *task = RuleTask::new(RuleRuntime::new(rule));
            }
            Err(EvalResult::NotHeld)
        }
        Gate::Held(fence) => {
            if task.lease_token != Some(fence.token) {
                resume(evaluator, task, fence.token).await?;
            }
            Ok(Some(fence))
        }
    }
}

/// Rebuilds the task from the store under lease `token`.
async fn resume(evaluator: &Evaluator, task: &mut RuleTask, token: i64) -> Result<(), EvalResult> {
    let rule = Arc::clone(&task.runtime.rule);
    let stored = evaluator
        .store
        .load_rule_state(&rule.name)
        .await
        .map_err(|e| EvalResult::StoreError(format!("cannot take the rule over: {e}")))?;
    let mut runtime = RuleRuntime::new(Arc::clone(&rule));
    let learnt = !stored.baselines.is_empty();
    runtime.restore(stored.alerts, stored.baselines);
    runtime.apply_journal(stored.journal);
    if !learnt {
        if let Some(source) = evaluator.sources.get(&rule.source) {
            crate::app::warm_up(&mut runtime, source.as_ref(), evaluator.clock.now()).await;
        }
    }
    tracing::info!(rule = %rule.name, token, "rule taken over: state resumed from the store");
    *task = RuleTask::resumed(runtime, Intake::new(stored.flaps));
    task.lease_token = Some(token);
    Ok(())
}
