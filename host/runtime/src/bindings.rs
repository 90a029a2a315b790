//! Host bindings of world `sandflow:task/task`, generated from `sdk/wit`.

wasmtime::component::bindgen!({
    path: "../../sdk/wit",
    world: "task",
    imports: { default: async | trappable },
    exports: { default: async },
});
