//! Compiling the contracts of one Cairo project to Sierra classes, and checking each class the
//! way the sequencer will: allowed libfuncs at its Sierra version, and CASM compilation.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use cairo_lang_compiler::db::RootDatabase;
use cairo_lang_compiler::project::setup_project;
use cairo_lang_compiler::CompilerConfig;
use cairo_lang_defs::db::defs_group_input;
use cairo_lang_defs::ids::{InlineMacroExprPluginLongId, MacroPluginLongId};
use cairo_lang_filesystem::db::init_dev_corelib;
use cairo_lang_filesystem::ids::CrateInput;
use cairo_lang_lowering::optimizations::config::Optimizations;
use cairo_lang_lowering::utils::InliningStrategy;
use cairo_lang_semantic::db::semantic_group_input;
use cairo_lang_semantic::ids::AnalyzerPluginLongId;
use cairo_lang_semantic::inline_macros::get_default_plugin_suite;
use cairo_lang_starknet::compile::compile_contract_in_prepared_db;
use cairo_lang_starknet::starknet_plugin_suite;
use cairo_lang_starknet_classes::allowed_libfuncs::ListSelector;
use cairo_lang_starknet_classes::casm_contract_class::CasmContractClass;
use cairo_lang_starknet_classes::contract_class::ContractClass;
use cairo_lang_utils::ordered_hash_map::OrderedHashMap;
use salsa::Setter;

/// The sequencer's limit on a compiled class's bytecode (felts).
const MAX_BYTECODE_SIZE: usize = 81_290;

/// One compiled contract: its Sierra JSON as committed, and facts read back from it.
pub struct Compiled {
    /// The Sierra class, serialized as the artifact is written.
    pub sierra_json: String,
    /// The Sierra version the class carries (`major.minor.patch`).
    pub sierra_version: String,
    /// The Blake2s ("v2") compiled class hash of its CASM, what a DECLARE commits to (hex).
    pub compiled_class_hash: String,
}

/// Compiles each contract path of the project in `project_dir` (the folder holding
/// `cairo_project.toml`), with the corelib at `corelib_dir`, in the order given.
pub fn compile_contracts(
    project_dir: &Path,
    corelib_dir: &Path,
    contract_paths: &[&str],
) -> Result<Vec<Compiled>> {
    let mut db = RootDatabase::builder()
        .with_optimizations(Optimizations::enabled_with_default_movable_functions(
            InliningStrategy::Default,
        ))
        .build()?;
    init_dev_corelib(&mut db, corelib_dir.join("src"));
    let main_crates = setup_project(&mut db, project_dir)
        .with_context(|| format!("loading the Cairo project at {}", project_dir.display()))?;
    use_starknet_plugins(&mut db, &main_crates);
    contract_paths
        .iter()
        .map(|path| compile_one(&db, &main_crates, path))
        .collect()
}

/// Gives the project's crates the Starknet plugins, as Scarb does for a package that depends on
/// `starknet`. The corelib keeps the base suite: it carries the code those plugins generate for
/// its own interfaces already, and would define it twice.
fn use_starknet_plugins(db: &mut RootDatabase, crates: &[CrateInput]) {
    let mut suite = get_default_plugin_suite();
    suite.add(starknet_plugin_suite());
    let macros: Arc<[MacroPluginLongId]> = suite
        .plugins
        .iter()
        .cloned()
        .map(MacroPluginLongId)
        .collect();
    let inline: Arc<OrderedHashMap<String, InlineMacroExprPluginLongId>> = Arc::new(
        suite
            .inline_macro_plugins
            .iter()
            .map(|(name, plugin)| (name.clone(), InlineMacroExprPluginLongId(plugin.clone())))
            .collect(),
    );
    let analyzers: Arc<[AnalyzerPluginLongId]> = suite
        .analyzer_plugins
        .iter()
        .cloned()
        .map(AnalyzerPluginLongId)
        .collect();
    let defs = *defs_group_input(db);
    let semantic = *semantic_group_input(db);
    let mut macro_overrides = defs.macro_plugin_overrides(db).clone().unwrap_or_default();
    let mut inline_overrides = defs
        .inline_macro_plugin_overrides(db)
        .clone()
        .unwrap_or_default();
    let mut analyzer_overrides = semantic
        .analyzer_plugin_overrides(db)
        .clone()
        .unwrap_or_default();
    for input in crates {
        macro_overrides.insert(input.clone(), macros.clone());
        inline_overrides.insert(input.clone(), inline.clone());
        analyzer_overrides.insert(input.clone(), analyzers.clone());
    }
    defs.set_macro_plugin_overrides(db)
        .to(Some(macro_overrides));
    defs.set_inline_macro_plugin_overrides(db)
        .to(Some(inline_overrides));
    semantic
        .set_analyzer_plugin_overrides(db)
        .to(Some(analyzer_overrides));
}

fn compile_one(db: &RootDatabase, main_crates: &[CrateInput], path: &str) -> Result<Compiled> {
    let crate_ids = CrateInput::into_crate_ids(db, main_crates.to_vec());
    let config = CompilerConfig {
        replace_ids: true,
        ..CompilerConfig::default()
    };
    let class = compile_contract_in_prepared_db(db, Some(path), crate_ids, config)
        .with_context(|| format!("compiling {path}"))?;
    let (sierra_version, compiled_class_hash) =
        check_class(&class).with_context(|| format!("checking the class of {path}"))?;
    let mut sierra_json = serde_json::to_string_pretty(&class)?;
    sierra_json.push('\n');
    Ok(Compiled {
        sierra_json,
        sierra_version,
        compiled_class_hash,
    })
}

/// What the gateway checks before a DECLARE: only allowed libfuncs, and a CASM that fits.
fn check_class(class: &ContractClass) -> Result<(String, String)> {
    let program = class.extract_sierra_program(false)?;
    program.validate_version_compatible(ListSelector::DefaultList)?;
    let version = program.sierra_version;
    let casm =
        CasmContractClass::from_contract_class(class.clone(), program, false, MAX_BYTECODE_SIZE)?;
    let hash = casm.compiled_class_hash();
    Ok((
        format!("{}.{}.{}", version.major, version.minor, version.patch),
        format!("{:#x}", hash.to_biguint()),
    ))
}
