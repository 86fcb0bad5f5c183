import numpy as np, pandas as pd, warnings
warnings.filterwarnings('ignore')
from lifelines.datasets import load_gbsg2, load_rossi, load_waltons, load_lung
from lifelines import KaplanMeierFitter, CoxPHFitter
import sys; sys.path.insert(0,'/tmp')
from rt import corners, at_risk
from nen_bayes.reconstruct import reconstruct_arm

def digitise(time, event, rng, tn, sn):
    t,s,km = corners(time, event)
    t = t + rng.normal(0, tn, len(t)); t[0]=0; t=np.clip(t,0,None)
    s = np.clip(s + rng.normal(0, sn, len(s)),0,1); s[0]=1
    o=np.argsort(t, kind='stable'); t=t[o]; s=s[o]
    s=np.minimum.accumulate(s)
    return t,s,km

def metrics(time, ev, rec, km):
    km2 = KaplanMeierFitter().fit(rec.time, rec.event)
    grid = np.linspace(0, time.max(), 500)
    ok = np.array([(time>=g).sum()>=20 for g in grid])
    a=km.survival_function_at_times(grid[ok]).values; b=km2.survival_function_at_times(grid[ok]).values
    et=np.sort(np.unique(time[ev==1])); gap=np.median(np.diff(et))
    return rec.event.sum()/ev.sum()-1, np.abs(a-b).max(), (km2.median_survival_time_-km.median_survival_time_)

SNAP=float(sys.argv[1]) if len(sys.argv)>1 else 0.0
sets = {
 'gbsg2': (load_gbsg2(), 'time','cens','horTh', 250),
 'waltons': (load_waltons(), 'T','E','group', 10),
 'rossi': (load_rossi(), 'week','arrest','fin', 10),
}
for name,(df,tc,ec,gc,step) in sets.items():
    res=[]; hrs=[]
    for seed in range(10):
        rng=np.random.default_rng(seed)
        recs=[]; 
        for arm in sorted(df[gc].unique()):
            sub=df[df[gc]==arm]; time=sub[tc].values.astype(float); ev=sub[ec].values.astype(int)
            t,s,km = digitise(time, ev, rng, 0.003*time.max(), 0.003)
            rt=np.arange(0, t.max(), step); rn=at_risk(time, rt)
            r=reconstruct_arm(t,s,rt,rn, arm=str(arm), snap=SNAP*time.max()).data
            res.append(metrics(time, ev, r, km)); recs.append(r)
        rec=pd.concat(recs); rec['g']=(rec.arm==str(sorted(df[gc].unique())[1])).astype(int)
        orig=pd.DataFrame({'t':df[tc].astype(float),'e':df[ec],'g':(df[gc]==sorted(df[gc].unique())[1]).astype(int)})
        h0=np.exp(CoxPHFitter().fit(orig,'t','e').params_['g']); h1=np.exp(CoxPHFitter().fit(rec[['time','event','g']],'time','event').params_['g'])
        hrs.append(h1/h0-1)
    r=np.array(res)
    print(name, 'events relerr max', np.abs(r[:,0]).max().round(3), 'mean', r[:,0].mean().round(3), '| maxdiff max', r[:,1].max().round(3), '| median diff max', np.abs(r[:,2]).max(), '| HR relerr max', np.abs(hrs).max().round(3))
