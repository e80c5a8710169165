//! The engine against a scripted chain ([`ScriptedChain`]), without a node: the sender, the
//! tracker and settlement driven through [`ChainView`] — a poison execution whose failure
//! mentions the transaction nonce, an execution the node keeps failing (across a restart), a
//! relayer transaction the node refuses outright, and a bundle of two keys that reverts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sha2::Digest;
use stark_sessions_abi::constants::SELECTOR_EXECUTE_FROM_OUTSIDE_V2;
use stark_sessions_abi::{CairoSerde, Call, Felt};
use starknet::core::types::{
    BroadcastedInvokeTransaction, ContractExecutionError, ExecutionResources, ExecutionResult,
    FeeEstimate, FeePayment as PaidFee, InvokeTransactionReceipt, PriceUnit, ReceiptBlock,
    StarknetError, TransactionExecutionErrorData, TransactionFinalityStatus, TransactionReceipt,
    TransactionReceiptWithBlockInfo, TransactionTrace,
};

use super::chain_view::ChainView;
use super::{Engine, NoFailPoints, MAX_TRIES};
use crate::clock::unix_now;
use crate::config::{PaymasterConfig, RelayerConfig};
use crate::lifecycle::{ExecutionState, TxState};
use crate::node_error::NodeError;
use crate::relayer::Relayer;
use crate::store::{
    ApiKeyRecord, ExecutionRecord, KeyStatus, NewExecution, SqliteStore, Store, TxRecord,
};

/// What every transaction the scripted chain includes costs.
const FEE: u128 = 1_000;
const RELAYER: u32 = 0x4e1;
const INSTANCE: &str = "local";

/// Answers an estimate of these calls, given how many transactions the chain included so
/// far: `None` passes.
type EstimateRule = Box<dyn Fn(&[Call], usize) -> Option<NodeError> + Send + Sync>;
/// Answers the `n`th send (from 0): `None` accepts it.
type SendRule = Box<dyn Fn(usize) -> Option<NodeError> + Send + Sync>;
/// Whether a transaction carrying executions with these calls reverts, and its revert reason.
type RevertRule = Box<dyn Fn(&[Vec<Call>]) -> Option<String> + Send + Sync>;

/// A transaction the scripted chain included.
#[derive(Debug, Clone)]
struct Included {
    hash: Felt,
    /// The tracking ids it carried.
    ids: Vec<Felt>,
    /// Its revert reason, if it reverted.
    reverted: Option<String>,
}

/// A chain whose answers a test scripts. A transaction it accepts is in a block at once (its
/// relayer nonce used), for [`FEE`]; it keeps no traces.
struct ScriptedChain {
    /// The engine's store: how the chain learns which executions a transaction carries.
    store: Arc<dyn Store>,
    nonce: Mutex<Felt>,
    estimate_rule: EstimateRule,
    send_rule: SendRule,
    revert_rule: RevertRule,
    sends: AtomicUsize,
    /// Included transactions, in order.
    included: Mutex<Vec<Included>>,
}

impl ScriptedChain {
    fn new(store: Arc<dyn Store>) -> Self {
        ScriptedChain {
            store,
            nonce: Mutex::new(Felt::ZERO),
            estimate_rule: Box::new(|_, _| None),
            send_rule: Box::new(|_| None),
            revert_rule: Box::new(|_| None),
            sends: AtomicUsize::new(0),
            included: Mutex::new(Vec::new()),
        }
    }

    fn included(&self) -> Vec<Included> {
        self.included
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The stored transaction whose signed request this is.
    fn stored(&self, request: &BroadcastedInvokeTransaction) -> Option<TxRecord> {
        let bytes = serde_json::to_string(request).ok()?;
        self.store
            .transactions_in(&[TxState::Signed])
            .ok()?
            .into_iter()
            .find(|t| t.request == bytes)
    }

    fn calls_of(&self, tx: &TxRecord) -> Vec<Vec<Call>> {
        crate::settlement::calls_of(self.store.as_ref(), tx).unwrap_or_default()
    }
}

fn not_found() -> NodeError {
    NodeError::Starknet(StarknetError::TransactionHashNotFound)
}

#[async_trait]
impl ChainView for ScriptedChain {
    async fn nonce(&self, _account: Felt) -> Result<Felt, NodeError> {
        Ok(*self.nonce.lock().unwrap_or_else(|p| p.into_inner()))
    }

    async fn estimate(
        &self,
        _relayer: &Relayer,
        nonce: Felt,
        calls: Vec<Call>,
    ) -> Result<FeeEstimate, NodeError> {
        if nonce != self.nonce(Felt::ZERO).await? {
            return Err(NodeError::Starknet(StarknetError::InvalidTransactionNonce(
                "stale".into(),
            )));
        }
        if let Some(e) = (self.estimate_rule)(&calls, self.included().len()) {
            return Err(e);
        }
        Ok(FeeEstimate {
            l1_gas_consumed: 0,
            l1_gas_price: 1,
            l2_gas_consumed: 1_000,
            l2_gas_price: 1,
            l1_data_gas_consumed: 0,
            l1_data_gas_price: 1,
            overall_fee: FEE,
        })
    }

    async fn send(&self, request: &BroadcastedInvokeTransaction) -> Result<Felt, NodeError> {
        if let Some(e) = (self.send_rule)(self.sends.fetch_add(1, Ordering::SeqCst)) {
            return Err(e);
        }
        let tx = self
            .stored(request)
            .ok_or_else(|| NodeError::NoAnswer("a transaction the store does not hold".into()))?;
        let reverted = (self.revert_rule)(&self.calls_of(&tx));
        let ids = tx.items.iter().map(|i| i.tracking_id).collect();
        self.included
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Included {
                hash: tx.hash,
                ids,
                reverted,
            });
        *self.nonce.lock().unwrap_or_else(|p| p.into_inner()) += Felt::ONE;
        Ok(tx.hash)
    }

    async fn status(&self, hash: Felt) -> Result<(), NodeError> {
        let known = self.included().iter().any(|t| t.hash == hash);
        known.then_some(()).ok_or_else(not_found)
    }

    async fn receipt(&self, hash: Felt) -> Result<TransactionReceiptWithBlockInfo, NodeError> {
        let included = self.included();
        let tx = included
            .iter()
            .find(|t| t.hash == hash)
            .ok_or_else(not_found)?;
        let execution_result = match &tx.reverted {
            None => ExecutionResult::Succeeded,
            Some(reason) => ExecutionResult::Reverted {
                reason: reason.clone(),
            },
        };
        Ok(TransactionReceiptWithBlockInfo {
            receipt: TransactionReceipt::Invoke(InvokeTransactionReceipt {
                transaction_hash: hash,
                actual_fee: PaidFee {
                    amount: Felt::from(FEE),
                    unit: PriceUnit::Fri,
                },
                finality_status: TransactionFinalityStatus::AcceptedOnL2,
                messages_sent: Vec::new(),
                events: Vec::new(),
                execution_resources: ExecutionResources {
                    l1_gas: 0,
                    l1_data_gas: 0,
                    l2_gas: 1_000,
                },
                execution_result,
            }),
            block: ReceiptBlock::Block {
                block_hash: Felt::ONE,
                block_number: 1,
            },
        })
    }

    async fn trace(&self, _hash: Felt) -> Result<TransactionTrace, NodeError> {
        Err(not_found())
    }
}

/// A refusal by the node's execution with this innermost message.
fn execution_refusal(text: &str) -> NodeError {
    NodeError::Starknet(StarknetError::TransactionExecutionError(
        TransactionExecutionErrorData {
            transaction_index: 0,
            execution_error: ContractExecutionError::Message(text.into()),
        },
    ))
}

/// The relayer call of test execution `n` on `user`'s account (`n` marks it).
fn outside_call(user: Felt, n: u64) -> Call {
    Call {
        to: user,
        selector: SELECTOR_EXECUTE_FROM_OUTSIDE_V2,
        calldata: vec![Felt::from(n)],
    }
}

fn marked(calls: &[Call], n: u64) -> bool {
    calls.iter().any(|c| c.calldata == [Felt::from(n)])
}

fn tracking_id(n: u64) -> Felt {
    Felt::from(0x1000 + n)
}

/// Stores API key `key`, then execution `n` on `user`'s account for it, queued here (the
/// engine adopts it when it starts).
fn queue_execution(store: &dyn Store, n: u64, user: Felt, key: &str) -> Felt {
    store
        .put_api_key(&ApiKeyRecord {
            id: key.into(),
            name: key.into(),
            key_hash: sha2::Sha256::digest(key.as_bytes()).into(),
            daily_budget_fri: u128::MAX,
            requests_per_minute: 1_000,
            allowed_targets: None,
            status: KeyStatus::Active,
        })
        .expect("key");
    let id = tracking_id(n);
    let new = NewExecution {
        id,
        user_address: user,
        outside_nonce: Felt::from(n),
        api_key_id: key.into(),
        token_id: None,
        calls: vec![outside_call(user, n)].to_felts(),
        fee: None,
        owner: INSTANCE.into(),
    };
    store.claim_execution(&new, unix_now()).expect("claim");
    store.mark_queued(id, INSTANCE, unix_now()).expect("queue");
    id
}

/// An engine with one relayer on `chain`, bundling up to `bundle` executions.
fn engine(store: &Arc<dyn Store>, chain: &Arc<ScriptedChain>, bundle: usize) -> Engine {
    let url: url::Url = "http://127.0.0.1:9/rpc".parse().expect("url");
    let relayer = RelayerConfig {
        address: Felt::from(RELAYER),
        private_key: Felt::from(0x5eed_u32),
    };
    let mut config = PaymasterConfig::new(url.clone(), vec![relayer.clone()]);
    config.max_bundle_size = bundle;
    config.instance_id = Some(INSTANCE.into());
    // Never asked: every request goes through the scripted chain.
    let node = stark_sessions_rpc::connect(url, Duration::from_secs(1)).expect("client");
    let relayers = vec![Arc::new(Relayer::new(node, Felt::ONE, &relayer))];
    Engine::on_chain(
        config,
        chain.clone(),
        relayers,
        store.clone(),
        Arc::default(),
        Arc::new(NoFailPoints),
    )
}

/// Waits until every execution in `ids` is final (at most `limit`); their records.
async fn finals(store: &dyn Store, ids: &[Felt], limit: Duration) -> Vec<ExecutionRecord> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let records: Vec<ExecutionRecord> = ids
            .iter()
            .filter_map(|id| store.execution(*id).expect("read"))
            .collect();
        let done = records.len() == ids.len() && records.iter().all(|r| r.state.is_final());
        if done || tokio::time::Instant::now() >= deadline {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Each of `ids` is in exactly one transaction the chain included that succeeded, and settled.
fn landed_once(chain: &ScriptedChain, records: &[ExecutionRecord], ids: &[Felt]) {
    let included = chain.included();
    for id in ids {
        let carriers = included
            .iter()
            .filter(|t| t.reverted.is_none() && t.ids.contains(id))
            .count();
        let record = records.iter().find(|r| r.id == *id).expect("record");
        assert_eq!(
            (carriers, record.state),
            (1, ExecutionState::Settled),
            "{id:#x}"
        );
    }
}

fn sqlite() -> Arc<dyn Store> {
    Arc::new(SqliteStore::in_memory().expect("store"))
}

const USER: u32 = 0xacc0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_execution_mentioning_the_transaction_nonce_is_refused_and_the_others_land() {
    let store = sqlite();
    let mut chain = ScriptedChain::new(store.clone());
    // Its call panics with text a stale relayer nonce would also show; the nonce never moves.
    chain.estimate_rule = Box::new(|calls, _| {
        marked(calls, 10).then(|| execution_refusal("Account transaction nonce is invalid."))
    });
    let chain = Arc::new(chain);
    let ids: Vec<Felt> = (0..21)
        .map(|n| queue_execution(store.as_ref(), n, Felt::from(USER), "k"))
        .collect();
    let engine = engine(&store, &chain, 16);
    engine.start().await.expect("start");
    let records = finals(store.as_ref(), &ids, Duration::from_secs(30)).await;
    let poison = records
        .iter()
        .find(|r| r.id == tracking_id(10))
        .expect("poison");
    assert_eq!(poison.state, ExecutionState::Failed, "{poison:?}");
    assert!(
        poison
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("transaction execution error")),
        "refused with its own error: {poison:?}"
    );
    assert_eq!((poison.attempts, poison.tries), (0, 0), "refused at once");
    let others: Vec<Felt> = ids.iter().copied().filter(|id| *id != poison.id).collect();
    landed_once(&chain, &records, &others);
    assert!(chain.included().iter().all(|t| !t.ids.contains(&poison.id)));
    assert!(
        store.ledger(true).expect("ledger").is_empty(),
        "nothing held"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_the_node_keeps_failing_is_refused_after_its_tries_even_across_a_restart() {
    let store = sqlite();
    let mut chain = ScriptedChain::new(store.clone());
    // The node answers everything but estimates that carry execution 10.
    chain.estimate_rule = Box::new(|calls, _| {
        marked(calls, 10).then(|| NodeError::NoAnswer("503 Service Unavailable".into()))
    });
    let chain = Arc::new(chain);
    let ids: Vec<Felt> = (0..21)
        .map(|n| queue_execution(store.as_ref(), n, Felt::from(USER), "k"))
        .collect();
    let poison = tracking_id(10);
    let first = engine(&store, &chain, 16);
    first.start().await.expect("start");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while store
        .execution(poison)
        .expect("read")
        .expect("poison")
        .tries
        < 5
    {
        assert!(tokio::time::Instant::now() < deadline, "never tried");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Stopped as a crash would and started again: the count goes on where it was.
    first.shutdown();
    let second = engine(&store, &chain, 16);
    second.start().await.expect("restart");
    let records = finals(store.as_ref(), &ids, Duration::from_secs(60)).await;
    let refused = records.iter().find(|r| r.id == poison).expect("poison");
    assert_eq!(
        (refused.state, refused.tries),
        (ExecutionState::Failed, MAX_TRIES),
        "{refused:?}"
    );
    assert!(
        refused
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("attempts exhausted")),
        "{refused:?}"
    );
    let others: Vec<Felt> = ids.iter().copied().filter(|id| *id != poison).collect();
    landed_once(&chain, &records, &others);
    assert!(
        store.ledger(true).expect("ledger").is_empty(),
        "nothing held"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_the_node_refuses_is_signed_again_with_a_hash_of_its_own() {
    let store = sqlite();
    let mut chain = ScriptedChain::new(store.clone());
    // The first send is refused outright; the relayer's nonce stays unused.
    chain.send_rule = Box::new(|n| {
        (n == 0).then_some(NodeError::Starknet(
            StarknetError::InsufficientResourcesForValidate,
        ))
    });
    let chain = Arc::new(chain);
    let id = queue_execution(store.as_ref(), 1, Felt::from(USER), "k");
    let engine = engine(&store, &chain, 16);
    engine.start().await.expect("start");
    let records = finals(store.as_ref(), &[id], Duration::from_secs(30)).await;
    landed_once(&chain, &records, &[id]);
    assert_eq!(records[0].attempts, 2);
    let refused = store.transactions_in(&[TxState::Dropped]).expect("read");
    let settled = store.transactions_in(&[TxState::Settled]).expect("read");
    assert_eq!((refused.len(), settled.len()), (1, 1));
    assert_ne!(refused[0].hash, settled[0].hash);
    assert_eq!(
        (refused[0].nonce, settled[0].max_fee - refused[0].max_fee),
        (settled[0].nonce, 1),
        "the same nonce, one more unit of L2 gas allowed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reverted_bundle_of_two_keys_is_paid_by_the_execution_that_made_it_revert() {
    let store = sqlite();
    let (alice, bob) = (Felt::from(0xa11c_u32), Felt::from(0xb0b_u32));
    let mut chain = ScriptedChain::new(store.clone());
    // Bob's execution passes its estimate, then his account changes: in the bundle it
    // reverts, and alone it is refused from then on.
    chain.estimate_rule = Box::new(move |calls, included| {
        let bob_alone = calls.len() == 1 && calls[0].to == bob;
        (bob_alone && included > 0).then(|| execution_refusal("outside/nonce-used"))
    });
    chain.revert_rule = Box::new(move |items| {
        let bundle_with_bob = items.len() > 1 && items.iter().flatten().any(|c| c.to == bob);
        bundle_with_bob.then(|| {
            let frame = |address: Felt, selector: Felt| {
                format!("Error in contract (contract address: {address:#066x}, class hash: {:#066x}, selector: {selector:#066x}):", Felt::from(0xc1a55_u32))
            };
            [
                "Transaction execution has failed:".to_owned(),
                "Execution failed. Failure reason:".to_owned(),
                frame(Felt::from(RELAYER), Felt::from(0xe7_u8)),
                frame(bob, SELECTOR_EXECUTE_FROM_OUTSIDE_V2),
                "0x6f7574736964652f6e6f6e63652d75736564 ('outside/nonce-used').".to_owned(),
            ]
            .join("\n")
        })
    });
    let chain = Arc::new(chain);
    let ids = [
        queue_execution(store.as_ref(), 1, alice, "tenant-a"),
        queue_execution(store.as_ref(), 2, bob, "tenant-b"),
        queue_execution(store.as_ref(), 3, alice, "tenant-a"),
    ];
    let engine = engine(&store, &chain, 16);
    engine.start().await.expect("start");
    let records = finals(store.as_ref(), &ids, Duration::from_secs(30)).await;
    landed_once(&chain, &records, &[ids[0], ids[2]]);
    let bob_record = records.iter().find(|r| r.id == ids[1]).expect("bob");
    assert_eq!(bob_record.state, ExecutionState::Failed, "{bob_record:?}");

    let included = chain.included();
    let bundle = &included[0].hash;
    assert!(
        included[0].reverted.is_some(),
        "the bundle reverted: {included:?}"
    );
    let charged: Vec<(Felt, Option<u128>)> = store
        .transaction_ledger(*bundle)
        .expect("ledger")
        .iter()
        .map(|l| (l.tracking_id, l.charged_fri))
        .collect();
    assert_eq!(
        charged,
        vec![(ids[0], Some(0)), (ids[1], Some(FEE)), (ids[2], Some(0))],
        "bob's execution pays the revert; alice's pay nothing for it"
    );
    let day = crate::clock::today();
    assert_eq!(store.spent_on("tenant-b", day).expect("spent"), FEE);
    assert_eq!(
        store.spent_on("tenant-a", day).expect("spent"),
        2 * FEE,
        "tenant a pays for the two transactions that carried its executions, once each"
    );
    assert!(
        store.ledger(true).expect("ledger").is_empty(),
        "nothing held"
    );
}
