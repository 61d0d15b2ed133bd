import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunk-BKWPUANV.mjs";import"./chunk-T4MGAAG2.mjs";import"./chunk-WSTIR2ZI.mjs";import"./chunk-PNMPPFCT.mjs";import"./chunk-5BEN6JAN.mjs";export{a as openStore};
